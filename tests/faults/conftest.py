"""A fault-injecting HTTP proxy: put in front of a real server, it answers with 500s or
stalls for the requests it is told to, and passes the others on."""

from __future__ import annotations

import http.client
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)


class FaultyProxy(ThreadingHTTPServer):
    """Forwards to ``upstream``; each request first takes the next fault queued in ``faults``:
    ``"500"`` (answer 500), ``"stall"`` (wait ``stall_s``, then forward), or none (forward).
    ``seen`` lists (monotonic time, method, fault) of every request."""

    daemon_threads = True

    def __init__(self, upstream: str, *, stall_s: float = 2.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = urlsplit(upstream)
        self.stall_s = stall_s
        self.faults: deque[str] = deque()
        self.always: str | None = None
        self.seen: list[tuple[float, str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fault(self) -> str:
        return self.faults.popleft() if self.faults else (self.always or "")


class _Handler(BaseHTTPRequestHandler):
    server: FaultyProxy

    def log_message(self, *args: object) -> None:
        pass

    def _handle(self) -> None:
        fault = self.server.fault()
        self.server.seen.append((time.monotonic(), self.command, fault))
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        if fault == "500":
            self.send_response(500)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(INTERNAL_ERROR)))
            self.end_headers()
            self.wfile.write(INTERNAL_ERROR)
            return
        if fault == "stall":
            time.sleep(self.server.stall_s)
        upstream = http.client.HTTPConnection(self.server.upstream.hostname, self.server.upstream.port, timeout=30)
        try:
            upstream.request(self.command, self.path, body=body, headers=dict(self.headers))
            reply = upstream.getresponse()
            data = reply.read()
            self.send_response(reply.status)
            for name, value in reply.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up on a stalled request, or the upstream is gone
        finally:
            upstream.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


@pytest.fixture
def faulty_s3(s3_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyProxy]:
    """The proxy in front of the loopback S3 server, and Smol pointed at the proxy."""
    proxy = FaultyProxy(s3_env)
    thread = threading.Thread(target=proxy.serve_forever, name="faulty-s3", daemon=True)
    thread.start()
    monkeypatch.setenv("SMOL_S3_ENDPOINT", proxy.url)
    yield proxy
    proxy.shutdown()
    proxy.server_close()
