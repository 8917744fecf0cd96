"""HTTP servers on 127.0.0.1 whose behaviour is known exactly: the boundary the correctness tests fake.

Each answers POST with a fixed delay, fails the requests whose vegeta sequence number (the X-Vegeta-Seq
header vegeta sets on every hit, lib/attack.go hit) is a multiple of `fail_every`, or stalls every request
for `stall_s` once, from the moment request `stall_at_seq` arrives (as a server's garbage-collection pause
would). A request without the header (bench's one-request check) always succeeds.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    delay_s: float = 0.0
    fail_every: int = 0
    stall_at_seq: int = -1
    stall_s: float = 0.0
    status_for_body: int = 0
    """Answer every request with this status and a message (a server rejecting the body)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A deep accept queue: an open-loop generator opens connections in bursts after a stall.
    request_queue_size = 1024

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour
        self.stall_until = 0.0
        self.count = 0
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY, Nagle's algorithm and the client's
    # delayed ACK hold the body back for 40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.count += 1
        if self.path == "/count":
            self._answer(200, json.dumps({"count": self.server.count}).encode())
            return
        self._answer(200, b'{"name": "known", "ready": true}')

    def do_POST(self) -> None:
        with self.server.lock:
            self.server.count += 1
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        behaviour = self.server.behaviour
        if behaviour.status_for_body:
            self._answer(behaviour.status_for_body, b'{"error": "input shape mismatch: expected [1, 4]"}')
            return
        seq_header = self.headers.get("X-Vegeta-Seq")
        seq = int(seq_header) if seq_header is not None else None
        with self.server.lock:
            if seq is not None and seq == behaviour.stall_at_seq:
                self.server.stall_until = time.monotonic() + behaviour.stall_s
            stall_until = self.server.stall_until
        pause = stall_until - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        if behaviour.delay_s:
            time.sleep(behaviour.delay_s)
        if seq is not None and behaviour.fail_every and seq % behaviour.fail_every == 0:
            self._answer(503, b'{"error": "known failure"}')
            return
        self._answer(200, b'{"outputs": [1]}')

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def serving(behaviour: Behaviour) -> Iterator[str]:
    """A server with this behaviour on 127.0.0.1; yields its base URL."""
    server = _Server(behaviour)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
