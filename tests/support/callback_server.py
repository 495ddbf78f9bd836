#!/usr/bin/env python3
"""A callback server for the notify tests (on_publish, on_play, ...).

Usage: callback_server.py PORT LOGFILE

Every request is appended to LOGFILE as one JSON line: method, path and the decoded form
(query for GET, body for POST). The answer depends on the `name` field:
  deny*    -> 403
  rename*  -> 302 with Location: renamed
  relay*   -> 302 with Location: rtmp://elsewhere/app/x
  hang*    -> no answer for 60 s
  garbage* -> bytes that are not HTTP, then close
  huge*    -> 200 with a 50 MB body
  anything else -> 200
except that a `location` field (a query argument of the stream name) answers 302 with it as
the Location, whatever the name, for every call but the `update*` ones.
"""
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

PORT = int(sys.argv[1])
LOG = sys.argv[2]
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def handle_one(self, form):
        with lock, open(LOG, "a") as f:
            f.write(json.dumps({"method": self.command, "path": urlsplit(self.path).path, "form": form}) + "\n")
        name = form.get("name", "")
        if "location" in form and not form.get("call", "").startswith("update"):
            self.send_response(302)
            self.send_header("Location", form["location"])
            self.end_headers()
        elif name.startswith("deny"):
            self.send_response(403)
            self.end_headers()
        elif name.startswith("rename"):
            self.send_response(302)
            self.send_header("Location", "renamed")
            self.end_headers()
        elif name.startswith("relay"):
            self.send_response(302)
            self.send_header("Location", "rtmp://elsewhere/app/x")
            self.end_headers()
        elif name.startswith("hang"):
            time.sleep(60)
        elif name.startswith("garbage"):
            self.wfile.write(b"\x00\x01garbage, not http\r\n\r\n")
            self.wfile.flush()
        elif name.startswith("huge"):
            self.send_response(200)
            self.send_header("Content-Length", str(50 << 20))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(800):
                    self.wfile.write(chunk)
            except OSError:
                pass
        else:
            self.send_response(200)
            self.end_headers()

    def do_GET(self):
        self.handle_one(dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True)))

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        form = dict(parse_qsl(body, keep_blank_values=True))
        form["_content_type"] = self.headers.get("Content-Type", "")
        self.handle_one(form)


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
