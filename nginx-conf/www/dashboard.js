// ngx-rtmp dashboard: live streams from the JSON stat (every worker merged), refreshed every
// 2 s, and an hls.js player. Plain JS, no build step.
//   ?stat=/stat  the rtmp_stat location      ?hls=/hls/  where hls_path is served
'use strict';
const params = new URLSearchParams(location.search);
const STAT = params.get('stat') || '/stat';
const HLS = params.get('hls') || '/hls/';
const REFRESH_MS = 2000;
let current = null; // "app/name" being played
let hls = null;

function rate(bits) {
  if (bits >= 1e6) return (bits / 1e6).toFixed(2) + ' Mb/s';
  if (bits >= 1e3) return Math.round(bits / 1e3) + ' kb/s';
  return bits + ' b/s';
}

function duration(ms) {
  let s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + s + 's';
}

function size(bytes) {
  if (bytes >= 1e9) return (bytes / 1e9).toFixed(2) + ' GB';
  if (bytes >= 1e6) return (bytes / 1e6).toFixed(1) + ' MB';
  return Math.round(bytes / 1e3) + ' kB';
}

// The stream's recorders writing a file: "● 1m 5s 12.3 MB", one per recorder.
function recording(s) {
  const on = (s.recorders || []).filter((r) => r.recording || r.failed);
  if (!on.length) return '–';
  return on.map((r) => `${r.failed ? '✕ failed' : '●'} ${r.id ? r.id + ' ' : ''}${duration(r.duration_ms)} ${size(r.bytes)}`).join(', ');
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text; // never innerHTML: names come from publishers
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function liveStreams(stat) {
  const out = [];
  for (const server of stat.servers || []) {
    for (const app of server.applications || []) {
      for (const s of (app.live && app.live.streams) || []) {
        if (s.publishing) out.push({ app: app.name, server: server.index, ...s });
      }
    }
  }
  return out;
}

// "H264 + AAC", or every track of a multitrack stream: "H264, HEVC#1 + AAC, Opus#1".
function codecs(meta) {
  if (!meta) return '–';
  const name = (t) => (t.id ? `${t.codec}#${t.id}` : t.codec);
  const tracks = meta.tracks || [];
  const kind = (k) => tracks.filter((t) => t.type === k).map(name).join(', ');
  const video = tracks.length ? kind('video') : (meta.video && meta.video.codec) || '';
  const audio = tracks.length ? kind('audio') : (meta.audio && meta.audio.codec) || '';
  return [video, audio].filter(Boolean).join(' + ') || '–';
}

function render(stat) {
  const streams = liveStreams(stat);
  document.getElementById('summary').textContent =
    `${streams.length} live stream(s), ${stat.workers.length} worker(s), up ${duration(stat.uptime * 1000)}, ` +
    `in ${rate(stat.bw_in)}, out ${rate(stat.bw_out)}`;
  const tbody = document.querySelector('#streams tbody');
  tbody.replaceChildren();
  for (const s of streams) {
    const id = `${s.app}/${s.name}`;
    const tr = document.createElement('tr');
    tr.dataset.stream = id;
    if (id === current) tr.className = 'sel';
    const v = s.meta && s.meta.video;
    cell(tr, id);
    cell(tr, v ? `${v.width}x${v.height} ${v.frame_rate} fps` : '–');
    cell(tr, codecs(s.meta));
    cell(tr, rate(s.bw_in), 'n');
    cell(tr, String(s.nclients), 'n');
    cell(tr, duration(s.time), 'n');
    cell(tr, recording(s));
    const b = document.createElement('button');
    b.textContent = 'Watch';
    b.onclick = () => play(s.app, s.name);
    cell(tr, '').appendChild(b);
    tbody.appendChild(tr);
  }
  document.getElementById('empty').hidden = streams.length > 0;
}

async function refresh() {
  try {
    const r = await fetch(`${STAT}?format=json`, { cache: 'no-store' });
    if (!r.ok) throw new Error(`stat: HTTP ${r.status}`);
    render(await r.json());
    document.getElementById('err').textContent = '';
  } catch (e) {
    document.getElementById('err').textContent = String(e);
  }
}

function play(app, name) {
  const video = document.getElementById('video');
  const src = HLS + encodeURIComponent(name) + '.m3u8';
  current = `${app}/${name}`;
  document.getElementById('playing').textContent = `Playing ${current} (${src})`;
  if (hls) { hls.destroy(); hls = null; }
  if (window.Hls && Hls.isSupported()) {
    hls = new Hls({ liveSyncDurationCount: 3 });
    hls.on(Hls.Events.ERROR, (_e, d) => {
      if (d.fatal) document.getElementById('err').textContent = `player: ${d.type} ${d.details}`;
    });
    hls.loadSource(src);
    hls.attachMedia(video);
    hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = src; // Safari: native HLS
    video.play().catch(() => {});
  }
  refresh();
}

window.dashboard = { play, refresh };
refresh();
setInterval(refresh, REFRESH_MS);
