"""A real HTTP stand-in for FuseML's application store, with request recording and fault injection.

Why: the client and the dynamic provider are tested over real sockets (timeouts, refused
connections, YAML answers) against the REST contract of FuseML's OpenAPI document.  Each POST
body is validated against `components.schemas.Application` from
`<shared>/reference/fuseml/openapi3.yaml`, made strict with `additionalProperties: false`.
The shared folder is `$FUSEML_SERVING_SHARED` or `shared/` beside the repository checkout.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jsonschema
import yaml


def shared_dir() -> Path:
    """Return the shared data folder: $FUSEML_SERVING_SHARED or shared/ beside the checkout."""
    override = os.environ.get("FUSEML_SERVING_SHARED")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "shared"


def _strict(schema: dict, components: dict) -> dict:
    """Inline `$ref`s to components and forbid unknown properties on every object schema."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _strict(components[name], components)
    out = {k: v for k, v in schema.items() if k != "example"}
    if out.get("type") == "object":
        out["properties"] = {k: _strict(v, components) for k, v in out.get("properties", {}).items()}
        out["additionalProperties"] = False
    if isinstance(out.get("items"), dict):
        out["items"] = _strict(out["items"], components)
    return out


@cache
def application_schema() -> dict:
    """Load the strict Application schema (with KubernetesResource inlined) from the OpenAPI file."""
    path = shared_dir() / "reference" / "fuseml" / "openapi3.yaml"
    # The document is large (16k lines): use libyaml's safe loader when available.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=loader)
    components = document["components"]["schemas"]
    return _strict(components["Application"], components)


def goa_error(name: str, message: str, *, fault: bool = False) -> dict:
    """Build a goa error body as FuseML returns it (`application/vnd.goa.error`)."""
    return {
        "name": name,
        "id": uuid.uuid4().hex[:8],
        "message": message,
        "temporary": False,
        "timeout": False,
        "fault": fault,
    }


#: The longest a held request waits for its barrier: a forgotten barrier must not hang a server thread.
HOLD_LIMIT_S = 300.0


@dataclass
class Fault:
    """One injected misbehaviour; `times=None` repeats it forever."""

    status: int | None = None  # None: answer normally (after `delay_s`, as YAML if `as_yaml`).
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    #: Answer only once this is set (at most HOLD_LIMIT_S): a barrier the test opens, for a client held
    #: mid-call for exactly as long as the test needs, not for a guessed time.
    hold: threading.Event | None = None
    as_yaml: bool = False
    times: int | None = 1
    method: str | None = None


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeFuseML:
    """In-memory FuseML application store served over HTTP on 127.0.0.1 in a background thread."""

    def __init__(self) -> None:
        self.store: dict[str, dict] = {}
        self.requests: list[Recorded] = []
        self.deleted_k8s: list[dict[str, str]] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._validator = jsonschema.Draft7Validator(application_schema())
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A short poll interval keeps shutdown (once per test) fast.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeFuseML:
        """Start serving in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def inject(self, status: int | None = None, **kwargs: Any) -> None:
        """Queue a fault for the next matching request(s)."""
        with self._lock:
            self.faults.append(Fault(status=status, **kwargs))

    def seed(self, app: dict) -> None:
        """Put a record straight into the store, as if another client had registered it."""
        with self._lock:
            self.store[app["name"]] = copy.deepcopy(app)

    def calls(self) -> list[tuple[str, str]]:
        """Return (method, path) of every request so far."""
        return [(r.method, r.path) for r in self.requests]

    def writes(self) -> list[tuple[str, str]]:
        """Return (method, path) of every POST or DELETE so far."""
        return [c for c in self.calls() if c[0] in ("POST", "DELETE")]

    def _take_fault(self, method: str) -> Fault | None:
        """Pop (or reuse, when forever) the first fault that applies to `method`."""
        with self._lock:
            for index, fault in enumerate(self.faults):
                if fault.method not in (None, method):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        del self.faults[index]
                return fault
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        """Bind a request handler class to this server instance."""
        fake = self

        class Handler(_Handler):
            server_state = fake

        return Handler

    # -- routes -----------------------------------------------------------------------------------

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        """Answer one request against the in-memory store: (status, body or None)."""
        parts = [unquote(p) for p in path.split("/")]
        if method == "GET" and path == "/applications":
            return 200, self._list(query)
        if method == "POST" and path == "/applications":
            return self._register(body)
        if method == "GET" and len(parts) == 3 and parts[1] == "applications":
            record = self.store.get(parts[2])
            if record is None:
                return 404, goa_error("not_found", f"could not find application with name '{parts[2]}'")
            return 200, record
        if method == "DELETE" and len(parts) == 4 and parts[1] == "applications" and parts[3] == "":
            return self._delete(parts[2])
        return 405 if parts[1:2] == ["applications"] else 404, goa_error("bad_request", "no such route")

    def _list(self, query: dict[str, list[str]]) -> list[dict]:
        """Filter the store by the `type` and `workflow` query parameters."""
        wanted = {k: v[0] for k, v in query.items() if k in ("type", "workflow") and v and v[0]}
        return [a for a in self.store.values() if all(a.get(k) == v for k, v in wanted.items())]

    def _register(self, body: Any) -> tuple[int, Any]:
        """Validate against the strict Application schema, then store (replacing by name)."""
        errors = sorted(self._validator.iter_errors(body), key=lambda e: list(e.path))
        if errors:
            return 400, goa_error("bad_request", "invalid application: " + errors[0].message)
        with self._lock:
            self.store[body["name"]] = copy.deepcopy(body)
        return 201, body

    def _delete(self, name: str) -> tuple[int, Any]:
        """Remove a record and "delete" the Kubernetes objects it lists, as FuseML does."""
        with self._lock:
            record = self.store.pop(name, None)
        if record is None:
            return 404, goa_error("not_found", f"could not find application with name '{name}'")
        for resource in record.get("k8s_resources") or []:
            self.deleted_k8s.append({"namespace": record["k8s_namespace"], **resource})
        return 204, None


class _Handler(BaseHTTPRequestHandler):
    """HTTP glue: record, apply faults, route, encode as JSON or YAML."""

    server_state: FakeFuseML
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _read_body(self) -> Any:
        """Read and parse a JSON request body (None when empty or not JSON)."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _serve(self, method: str) -> None:
        """Handle one request end to end; a client that gave up (timeout) is ignored."""
        state = self.server_state
        split = urlsplit(self.path)
        body = self._read_body()
        state.requests.append(Recorded(method, split.path, dict(self.headers.items()), body))
        fault = state._take_fault(method)
        if fault and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault and fault.hold is not None:
            fault.hold.wait(HOLD_LIMIT_S)
        if fault and fault.status is not None:
            status, payload = fault.status, fault.body
        else:
            status, payload = state.route(method, split.path, parse_qs(split.query), body)
        as_yaml = bool(fault and fault.as_yaml) or "application/json" not in self.headers.get("Accept", "")
        with contextlib.suppress(OSError):
            self._answer(status, payload, as_yaml, fault.headers if fault else {})

    def _answer(self, status: int, payload: Any, as_yaml: bool, headers: dict[str, str]) -> None:
        """Write the status, headers and encoded body."""
        if payload is None:
            data, content_type = b"", None
        elif isinstance(payload, str):
            data, content_type = payload.encode(), "text/plain"
        elif as_yaml:
            data, content_type = yaml.safe_dump(payload).encode(), "application/x-yaml"
        else:
            is_error = status >= 400
            data = json.dumps(payload).encode()
            content_type = "application/vnd.goa.error" if is_error else "application/json"
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)


@contextlib.contextmanager
def running_server() -> Iterator[FakeFuseML]:
    """Run a fresh FakeFuseML for the duration of the block."""
    server = FakeFuseML().start()
    try:
        yield server
    finally:
        server.stop()


def closed_port_url() -> str:
    """Return a URL on 127.0.0.1 whose port was just closed, so connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
