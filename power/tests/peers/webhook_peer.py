#!/usr/bin/env python3
"""A webhook power service for the webhook driver's tests.

Usage: webhook_peer.py PORT LOGFILE [CERTFILE KEYFILE]

One machine whose power is on or off. Every request is appended to LOGFILE
as a JSON line (method, path, the headers the driver sends), so the tests
assert what went over the wire.

  POST /power/on, /power/off       switch (200)
  GET  /power/status               {"status": "running"|"stopped"}
  POST /slash/on/, /slash/off/     only with the trailing slash (404 without)
  GET  /slash/status/              same
  GET  /odd/status                 {"status": "rebooting"} (neither regex)
  POST /broken                     500 with a body the driver must not repeat
  GET  /redirect/status            302 to /power/status
Requests need Authorization equal to $WEBHOOK_AUTH when that is set (401).
"""
import json
import os
import ssl
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

PORT, LOG = int(sys.argv[1]), sys.argv[2]
STATE = {"on": False}
AUTH = os.environ.get("WEBHOOK_AUTH")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, body=b"", ctype="application/json", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self, method):
        with open(LOG, "a") as f:
            f.write(json.dumps({
                "method": method,
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "system_id": self.headers.get("System_Id"),
                "accept": self.headers.get("Accept"),
                "content_type": self.headers.get("Content-Type"),
                "user_agent": self.headers.get("User-Agent"),
            }) + "\n")
        if AUTH is not None and self.headers.get("Authorization") != AUTH:
            return self.answer(401, b'{"error": "unauthorized"}')
        p = self.path
        if method == "POST" and p in ("/power/on", "/slash/on/"):
            STATE["on"] = True
            return self.answer(200, b"{}")
        if method == "POST" and p in ("/power/off", "/slash/off/"):
            STATE["on"] = False
            return self.answer(200, b"{}")
        if method == "GET" and p in ("/power/status", "/slash/status/"):
            s = "running" if STATE["on"] else "stopped"
            return self.answer(200, json.dumps({"status": s}).encode())
        if method == "GET" and p == "/odd/status":
            return self.answer(200, b'{"status": "rebooting"}')
        if method == "GET" and p == "/redirect/status":
            return self.answer(302, b"", extra={"Location": "/power/status"})
        if p == "/broken":
            return self.answer(500, b"Traceback: secret-internal-detail", "text/plain")
        return self.answer(404, b"not here", "text/plain")

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")


server = HTTPServer(("127.0.0.1", PORT), Handler)
if len(sys.argv) > 4:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
