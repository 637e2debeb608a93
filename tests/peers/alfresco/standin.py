# Copied from ../shared/testbed/alfresco (the Alfresco probe stand-in: only -ready- / -live-, backed by
# the real PostgreSQL database and the on-disk content store).
"""Minimal Alfresco Content Services stand-in: only the public REST probes.

GET /alfresco/api/-default-/public/alfresco/versions/1/probes/-ready-
GET /alfresco/api/-default-/public/alfresco/versions/1/probes/-live-

Readiness is *really* checked against the restored PostgreSQL DB and the
file content store (dir.root/contentstore, URLs store://Y/M/D/H/m/<guid>.bin),
so a broken restore makes -ready- return 503, like ACS would once it fails
its own DB check (ACS itself does not stat content files; this stand-in does,
to catch DB/content-store mismatches).
"""
import argparse
import json
import os
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

BASE = "/alfresco/api/-default-/public/alfresco/versions/1/probes/"
p = argparse.ArgumentParser()
p.add_argument("--port", type=int, default=18080)
p.add_argument("--dsn", default="host=127.0.0.1 port=55432 dbname=alfresco user=alfresco password=alfresco connect_timeout=3")
p.add_argument("--dir-root", default="alf_data")
p.add_argument("--boot-seconds", type=float, default=0.0, help="-ready- answers 503 while 'booting'")
p.add_argument("--check-period", type=float, default=10.0, help="ACS re-tests readiness at most every 10 s")
p.add_argument("--sample", type=int, default=20, help="content URLs to stat per check (0 = all)")
a = p.parse_args()
STARTED = time.time()
lock = threading.Lock(); state = {"last": 0.0, "ok": None, "why": ""}

def url_to_path(url):
    assert url.startswith("store://"), url
    return os.path.join(a.dir_root, "contentstore", url[len("store://"):])

def perform_check():
    if time.time() - STARTED < a.boot_seconds:
        raise RuntimeError("still booting")
    with psycopg.connect(a.dsn) as c:
        rows = c.execute("select content_url, content_size from alf_content_url where orphan_time is null").fetchall()
    if not rows:
        raise RuntimeError("no content in repository")
    sample = rows if a.sample == 0 or len(rows) <= a.sample else random.sample(rows, a.sample)
    for url, size in sample:
        path = url_to_path(url)
        if not os.path.isfile(path) or os.path.getsize(path) != size:
            raise RuntimeError(f"content missing/corrupt: {url}")

def ready():
    with lock:
        now = time.time()
        if state["ok"] is None or now - state["last"] >= a.check_period:
            try:
                perform_check(); state["ok"] = True; state["why"] = ""
            except Exception as e:
                state["ok"] = False; state["why"] = str(e)
            state["last"] = now; suffix = "Tested"
        else:
            suffix = "No test"
        return state["ok"], "readyProbe: %s - %s" % ("Success" if state["ok"] else "Failure", suffix)

class H(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))
    def send_json(self, code, obj):
        body = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(code); self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def error(self, code, key, msg):
        self.send_json(code, {"error": {"errorKey": key, "statusCode": code,
            "briefSummary": time.strftime("%m%d") + "%04d " % random.randint(0, 9999) + msg,
            "stackTrace": "For security reasons the stack trace is no longer displayed, but the property is kept for previous versions",
            "descriptionURL": "https://api-explorer.alfresco.com"}})
    def do_GET(self):
        path = self.path.split("?")[0]
        if not path.startswith(BASE):
            return self.error(404, "framework.exception.UnsupportedResourceOperation", "Unknown resource")
        name = path[len(BASE):].strip("/")
        if name == "-live-":
            return self.send_json(200, {"entry": {"message": "liveProbe: Success - Tested"}})
        if name == "-ready-":
            ok, msg = ready()
            if ok:
                return self.send_json(200, {"entry": {"message": msg}})
            return self.error(503, "framework.exception.ServiceUnavailable", msg)
        return self.error(400, "framework.exception.InvalidArgument", "Bad probe name: " + name)

srv = ThreadingHTTPServer(("127.0.0.1", a.port), H)
print(f"alfresco stand-in on 127.0.0.1:{a.port} pid={os.getpid()}", flush=True)
try:
    srv.serve_forever()
except KeyboardInterrupt:
    pass
