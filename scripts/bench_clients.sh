#!/usr/bin/env bash
# Benchmark with clients of several kinds, ours and others': worker CPU per ingested stream and
# players per core, our module against Debian's libnginx-mod-rtmp, alternating in each round,
# same input (720p30 2.5 Mbit/s H.264+AAC, GOP 2 s), HLS on, one worker, bench.sh's config.
#
# Publisher kinds (CLIENT_PUB_KINDS, N in CLIENT_PUBS, default "1 5 20 40"):
#   rtmp-load  ours: one thread, poll(2), every message paced in real time
#   ffmpeg     ffmpeg -re -stream_loop -1 -i in.flv -c copy -f flv, a process per stream
#   python     scripts/rtmp_py.py publish: stdlib Python, a thread per stream, one sendall
#              per message
# Player kinds (CLIENT_PLAY_KINDS, M in CLIENT_PLAYERS, default "50 200 500"; the stream is
# published by rtmp-load):
#   rtmp-load  ours: one thread, poll(2), every message parsed
#   ffmpeg     ffmpeg -i rtmp://... -c copy -f null -, a process per player
#   gst        gst-launch-1.0 rtmp2src ! fakesink, a process per player
#   drain      scripts/rtmp_py.py play: one process, epoll, every socket drained as fast as
#              it comes, nothing parsed after play
# CPU per player = (worker CPU with M players - worker CPU with the publisher alone) / M.
# The clients' own CPU (every client process's threads) is printed beside, never counted
# against either module. Medians of CLIENT_REPS (3) rounds; the load average is printed.
#
#   scripts/bench_clients.sh
#   CLIENT_PUB_KINDS=ffmpeg CLIENT_PUBS=20 CLIENT_PLAY_KINDS= CLIENT_REPS=1 scripts/bench_clients.sh
#
# The profile (CLIENT_PROFILE_AT, default "20 200": the first round's runs at those N or M;
# CLIENT_PROFILE_AT= turns it off): after the CPU window, the worker's syscalls for 4 s
# (strace -c: calls of recv, writev/send, write and epoll_wait, bytes per recv or send from
# the input's rate) and CLIENT_PROFILE_SECS (20) of perf record (where its time goes: the
# recv path, file writes, player sends, epoll, the module's own code). Wakeups per second
# (voluntary context switches) come from the CPU window itself, untraced.
#
# Output: the tables on stdout, rows in target/bench-clients/results.tsv and profile.tsv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/bench-clients"
REPS="${CLIENT_REPS:-3}"
WARMUP="${CLIENT_WARMUP:-5}"
WINDOW="${CLIENT_WINDOW:-8}"
PUB_KINDS="${CLIENT_PUB_KINDS-rtmp-load ffmpeg python}"
PUBS="${CLIENT_PUBS:-1 5 20 40}"
PLAY_KINDS="${CLIENT_PLAY_KINDS-rtmp-load ffmpeg gst drain}"
PLAYERS="${CLIENT_PLAYERS:-50 200 500}"
# Kinds with a process per player (ffmpeg, gst) stop at this M: 500 such processes need more
# than a 2-core machine has for themselves, and then measure the machine, not the server.
PROCESS_PLAYERS_MAX="${CLIENT_PROCESS_PLAYERS_MAX:-200}"
PROFILE_AT="${CLIENT_PROFILE_AT-20 200}"
# perf in a virtual machine samples about once per ms of CPU: a worker at a few % of a core
# needs tens of seconds for a profile worth reading.
PROFILE_SECS="${CLIENT_PROFILE_SECS:-20}"
IMPLS="${CLIENT_IMPLS:-rs c}"
C_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so
log() { echo "bench_clients.sh: $*" >&2; }

# shellcheck source=scripts/packages.sh
. "$ROOT/scripts/packages.sh"
ensure_packages bench_clients.sh ffmpeg python3 gstreamer1.0-tools gstreamer1.0-plugins-bad strace linux-perf
# shellcheck source=scripts/apt_peers.sh
. "$ROOT/scripts/apt_peers.sh"
[[ -f $C_MODULE ]] || apt_install_peers libnginx-mod-rtmp
# shellcheck source=scripts/load_common.sh
. "$ROOT/scripts/load_common.sh"
module_copy ngx_rtmp_rs.so
build_load
FLV="$OUT/in.flv"
make_flv "$FLV"

port_rs=$((20000 + RANDOM % 20000))
port_c=$((port_rs + 1))
bench_conf "$OUT/rs" "$OUT/ngx_rtmp_rs.so" "$port_rs"
bench_conf "$OUT/c" "$C_MODULE" "$port_c"

MASTER=""
WORKER=""
CLIENTS=()
stop_all() {
    if ((${#CLIENTS[@]})); then
        kill "${CLIENTS[@]}" 2>/dev/null || true
        wait "${CLIENTS[@]}" 2>/dev/null || true
    fi
    CLIENTS=()
    [[ -z $MASTER ]] || nginx_down "$MASTER" "$WORKER"
    MASTER=""
}
trap 'stop_all' EXIT

cpu_ns() { awk '{print $1}' "/proc/$1/schedstat"; }
clients_cpu_ns() { # the CLIENTS' threads, ns
    local p s=0 t
    for p in "${CLIENTS[@]}"; do
        t=$(task_cpu_ns "$p")
        s=$((s + ${t:-0}))
    done
    echo "$s"
}
alive() { local p n=0; for p in "$@"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done; echo "$n"; }

RES="$OUT/results.tsv"
printf 'impl\trole\tclient\tn\trep\tcpu_pct\tclient_cpu_pct\tok\tload1\twakeups_s\n' >"$RES"
PROF="$OUT/profile.tsv"
printf 'impl\trole\tclient\tn\tepoll_wait_s\trecv_s\twritev_s\twrite_s\tbytes_per_recv\tbytes_per_writev\tpct_recv\tpct_file_write\tpct_writev\tpct_epoll\tpct_module\n' >"$PROF"
# The input's bytes per second (20 s of media).
RATE=$(($(stat -c %s "$FLV") / 20))
voluntary() { awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$1/status"; }

# profile IMPL ROLE CLIENT N: strace -c (4 s) and perf record on the worker; a row of
# profile.tsv.
profile() {
    local impl=$1 role=$2 client=$3 n=$4 st="$OUT/profile/$1-$2-$3-$4"
    mkdir -p "$OUT/profile"
    timeout -s INT 4 strace -c -f -p "$WORKER" -o "$st.strace" >/dev/null 2>&1 || true
    perf record -q -g -F 2999 -p "$WORKER" -o "$st.perf" -- sleep "$PROFILE_SECS" >/dev/null 2>&1 || true
    perf report -q -i "$st.perf" --children --sort sym -g none 2>/dev/null >"$st.children" || true
    perf report -q -i "$st.perf" --no-children --sort dso -g none 2>/dev/null >"$st.dso" || true
    local ep rv wv wr in_bytes out_bytes module
    ep=$(strace_calls "$st.strace" epoll_wait)
    rv=$(strace_calls "$st.strace" recvfrom)
    # Player output: writev (ours, nginx's chains) or send (the C module's single buffers).
    wv=$(($(strace_calls "$st.strace" writev) + $(strace_calls "$st.strace" sendto)))
    wr=$(strace_calls "$st.strace" write)
    # Bytes in: N streams (or the one played) at the input's rate; out: one stream to M players.
    in_bytes=$((RATE * 4)) out_bytes=0
    if [[ $role == publish ]]; then in_bytes=$((RATE * 4 * n)); else out_bytes=$((RATE * 4 * n)); fi
    module=$(awk '/ngx_rtmp_(rs|module)/ {sub("%", "", $1); s += $1} END {print s + 0}' "$st.dso")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$role" "$client" "$n" \
        "$(ratio "$ep" 4)" "$(ratio "$rv" 4)" "$(ratio "$wv" 4)" "$(ratio "$wr" 4)" \
        "$(ratio "$in_bytes" "$rv")" "$(ratio "$out_bytes" "$wv")" \
        "$(perf_pct "$st.children" __libc_recv)" "$(perf_pct "$st.children" __GI___libc_write)" \
        "$(awk -v a="$(perf_pct "$st.children" __GI___writev)" -v b="$(perf_pct "$st.children" __libc_send)" \
            'BEGIN {s = a + b; if (s) print s; else print ""}')" \
        "$(perf_pct "$st.children" '[.] epoll_wait')" "$module" >>"$PROF"
}
# strace_calls FILE SYSCALL: its calls in an strace -c summary.
strace_calls() { awk -v s="$2" '$NF == s {c = $4} END {print c + 0}' "$1"; }
# perf_pct FILE SYMBOL: the symbol's share with its callees in a perf report --children.
perf_pct() { awk -v s="$2" 'index($0, s) {sub("%", "", $1); print $1; exit}' "$1"; }
# ratio A B: A / B, rounded; "-" when B is empty or 0.
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN {if (b + 0 && a + 0) printf "%.0f", a / b; else print "-"}'; }

# start_clients ROLE CLIENT N URL NAME SECONDS: starts them, appends their pids to CLIENTS.
start_clients() {
    local role=$1 client=$2 n=$3 url=$4 name=$5 secs=$6 k
    case "$role/$client" in
    publish/rtmp-load)
        "$LOAD" --url "$url" --flv "$FLV" --publishers "$n" --players 0 --duration "$secs" \
            --name "$name" --quiet >"$OUT/client.log" 2>&1 &
        CLIENTS+=($!) ;;
    publish/ffmpeg)
        for ((k = 0; k < n; k++)); do
            ffmpeg -hide_banner -nostdin -loglevel error -re -stream_loop -1 -i "$FLV" -c copy \
                -f flv "$url/$name$k" >>"$OUT/client.log" 2>&1 &
            CLIENTS+=($!)
        done ;;
    publish/python)
        /usr/bin/python3 "$ROOT/scripts/rtmp_py.py" publish "$url" "$FLV" "$name" "$n" "$secs" \
            >>"$OUT/client.log" 2>&1 &
        CLIENTS+=($!) ;;
    play/rtmp-load)
        "$LOAD" --url "$url" --flv "$FLV" --publishers 0 --players "$n" --duration "$secs" \
            --play-stream "${name}0" --quiet >"$OUT/client.log" 2>&1 &
        CLIENTS+=($!) ;;
    play/ffmpeg)
        for ((k = 0; k < n; k++)); do
            ffmpeg -hide_banner -nostdin -loglevel error -i "$url/${name}0" -c copy -f null - \
                >>"$OUT/client.log" 2>&1 &
            CLIENTS+=($!)
        done ;;
    play/gst)
        for ((k = 0; k < n; k++)); do
            gst-launch-1.0 -q rtmp2src location="$url/${name}0" ! fakesink sync=false \
                >>"$OUT/client.log" 2>&1 &
            CLIENTS+=($!)
        done ;;
    play/drain)
        /usr/bin/python3 "$ROOT/scripts/rtmp_py.py" play "$url" "${name}0" "$n" "$secs" \
            >"$OUT/drain.txt" 2>>"$OUT/client.log" &
        CLIENTS+=($!) ;;
    *) log "unknown client kind $role/$client"; exit 1 ;;
    esac
}

# run_one IMPL ROLE CLIENT N REP: one measurement; ROLE "base" is the publisher alone.
run_one() {
    local impl=$1 role=$2 client=$3 n=$4 rep=$5 port name url secs pub=() t1 t2 c1 c2 v1 v2 ok load
    case $impl in rs) port=$port_rs ;; *) port=$port_c ;; esac
    name="s$rep$RANDOM"
    url="rtmp://127.0.0.1:$port/live"
    secs=$((WARMUP + WINDOW + 2))
    : >"$OUT/client.log"
    read -r MASTER WORKER < <(nginx_up "$OUT/$impl")
    if [[ $role != publish ]]; then
        # Outlives the window however long the players take to start; stopped below.
        "$LOAD" --url "$url" --flv "$FLV" --publishers 1 --players 0 --duration $((secs + 120)) \
            --name "$name" --quiet >"$OUT/pub.log" 2>&1 &
        pub=($!)
        sleep 1.5
    fi
    [[ $role == base ]] || start_clients "$role" "$client" "$n" "$url" "$name" "$secs"
    sleep "$WARMUP"
    t1=$(cpu_ns "$WORKER")
    v1=$(voluntary "$WORKER")
    c1=$(clients_cpu_ns)
    sleep "$WINDOW"
    t2=$(cpu_ns "$WORKER")
    v2=$(voluntary "$WORKER")
    c2=$(clients_cpu_ns)
    load=$(cut -d' ' -f1 /proc/loadavg)
    if [[ $rep == 1 && $role != base && " $PROFILE_AT " == *" $n "* ]]; then
        profile "$impl" "$role" "$client" "$n"
    fi
    # Clients still running at the end of the window (a process per client); the one-process
    # clients say how many of theirs worked.
    ok=$(alive "${CLIENTS[@]}")
    # ffmpeg and GStreamer run until stopped; our clients and the Python ones end by themselves
    # (and then print what they counted).
    if ((${#CLIENTS[@]})); then
        case $client in ffmpeg | gst) kill "${CLIENTS[@]}" 2>/dev/null || true ;; esac
        wait "${CLIENTS[@]}" 2>/dev/null || true
    fi
    case "$role/$client" in
    base/*) ok=1 ;;
    play/drain) # a drained player counts when it received at least half the window's media
        ok=$(awk -v min=$((2500000 / 8 * WINDOW / 2)) '$1 >= min {k++} END {print k + 0}' "$OUT/drain.txt") ;;
    publish/rtmp-load) ok=$(summary_field "$OUT/client.log" publishers_ok) ;;
    play/rtmp-load) ok=$(summary_field "$OUT/client.log" players_ok) ;;
    publish/python) [[ -s $OUT/client.log ]] && ok=0 || ok=$n ;;
    esac
    CLIENTS=()
    if ((${#pub[@]})); then
        kill "${pub[@]}" 2>/dev/null || true
        wait "${pub[@]}" 2>/dev/null || true
    fi
    nginx_down "$MASTER" "$WORKER"
    MASTER=""
    local cpu ccpu
    cpu=$(awk -v a="$t1" -v b="$t2" -v w="$WINDOW" 'BEGIN {printf "%.3f", (b - a) / 1e9 / w * 100}')
    ccpu=$(awk -v a="$c1" -v b="$c2" -v w="$WINDOW" 'BEGIN {printf "%.1f", (b - a) / 1e9 / w * 100}')
    local wake=$(((v2 - v1) / WINDOW))
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$impl" "$role" "$client" "$n" "$rep" "$cpu" "$ccpu" "$ok" "$load" "$wake" >>"$RES"
    log "$(printf '%-2s %-7s %-9s n=%-3s rep=%s worker=%7s%% clients=%6s%% ok=%s wakeups/s=%s load=%s' \
        "$impl" "$role" "$client" "$n" "$rep" "$cpu" "$ccpu" "$ok" "$wake" "$load")"
}

log "our module on :$port_rs, C module on :$port_c; reps=$REPS warmup=${WARMUP}s window=${WINDOW}s"
log "machine: $(nproc) cores, loadavg $(cat /proc/loadavg)"
for rep in $(seq "$REPS"); do
    for kind in $PUB_KINDS; do
        for n in $PUBS; do
            for impl in $IMPLS; do run_one "$impl" publish "$kind" "$n" "$rep"; done
        done
    done
    if [[ -n $PLAY_KINDS ]]; then
        for impl in $IMPLS; do run_one "$impl" base - 0 "$rep"; done
    fi
    for kind in $PLAY_KINDS; do
        for m in $PLAYERS; do
            [[ ($kind == ffmpeg || $kind == gst) && $m -gt $PROCESS_PLAYERS_MAX ]] && continue
            for impl in $IMPLS; do run_one "$impl" play "$kind" "$m" "$rep"; done
        done
    done
done

/usr/bin/python3 "$ROOT/scripts/bench_clients_report.py" "$RES" "$PROF"
