"""A loopback HTTP server for download tests: serves files from a folder, with misbehaviours by path prefix.

  /files/NAME            normal, honours Range
  /truncate-once/NAME    the first request sends half the body (full Content-Length) and hangs up
  /flaky/NAME            the first two requests answer 503
  /status/CODE           always answers CODE
  /slow/NAME             stalls 3 s before answering
  /slowish/NAME          stalls 0.4 s before answering
  /redirect/?to=URL      answers 302 to URL
Every request is logged (path, Range header) so tests can assert what was asked, and the Authorization
header each one carried (`auth`).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802
        srv = self.server
        with srv.lock:
            srv.requests.append((self.path, self.headers.get("Range")))
            srv.auth.append((self.path, self.headers.get("Authorization")))
            count = sum(1 for p, _ in srv.requests if p == self.path)
        kind, _, name = self.path.lstrip("/").partition("/")
        if kind == "redirect":
            from urllib.parse import parse_qs, urlsplit

            self.send_response(302)
            self.send_header("Location", parse_qs(urlsplit(self.path).query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if kind == "status":
            self.send_error(int(name))
            return
        if kind == "flaky" and count <= 2:
            self.send_error(503)
            return
        if kind == "slow":
            time.sleep(3)
        if kind == "slowish":
            time.sleep(0.4)
        path = srv.root / name.split("?")[0]
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        part = body[start:]
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if kind == "truncate-once" and count == 1:
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(part)


class LoopbackServer:
    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        self.host = host
        self.httpd = ThreadingHTTPServer((host, 0), _Handler)
        self.httpd.root = Path(root)
        self.httpd.requests = []
        self.httpd.auth = []
        self.httpd.lock = threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "LoopbackServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.httpd.server_port}/{path.lstrip('/')}"

    @property
    def auth(self) -> list[tuple[str, str | None]]:
        return list(self.httpd.auth)

    @property
    def requests(self) -> list[tuple[str, str | None]]:
        return list(self.httpd.requests)
