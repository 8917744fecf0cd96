"""What to load: each target's name, URL, protocol and request bodies, checked with one request first.

The protocol follows from the URL path, as the servers route them: Open Inference Protocol v2
`/v2/models/<m>/infer` (KServe v2, MLServer, Triton, OVMS), TensorFlow Serving v1 and KServe v1
`/v1/models/<m>:predict` (tensorflow/serving g3doc/api_rest.md, kserve docs), and Seldon Core 1's
`/api/v1.0/predictions`. Bodies come from `--payload`, or from the model's metadata where the protocol
has one: v2 `GET /v2/models/<m>` (inputs with name, datatype, shape) and TensorFlow Serving
`GET /v1/models/<m>/metadata` (the signature's inputs with dtype and tensor_shape).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

V2 = re.compile(r"^(?P<base>.*)/v2/models/(?P<model>[^/]+)(/versions/[^/]+)?/infer$")
V1 = re.compile(r"^(?P<base>.*)/v1/models/(?P<model>[^/:]+)(/versions/[^/:]+)?:predict$")
SELDON = re.compile(r"^(?P<base>.*)/api/v1\.0/predictions$")
PROTOCOLS = ("v2", "v1", "seldon")
#: How long the one-request check and a metadata read wait for an answer.
CHECK_TIMEOUT_S = 10.0


class TargetError(Exception):
    """A target that cannot be measured: the message is one line naming it."""


@dataclass
class Target:
    """One model endpoint to measure, with what the cost needs (from the stack, or left unknown)."""

    name: str
    url: str
    backend: str | None = None
    bodies: list[bytes] = field(default_factory=list)
    replicas: int = 1
    requests: dict[str, str] = field(default_factory=dict)
    machine_type: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def protocol(self) -> str | None:
        for name, pattern in (("v2", V2), ("v1", V1), ("seldon", SELDON)):
            if pattern.match(self.url):
                return name
        return None


def read_payload(path: Path) -> list[bytes]:
    """`--payload FILE`: one JSON body, or a JSON list of bodies used in turn."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise TargetError(f"--payload {path}: cannot read it ({err.strerror})") from None
    except ValueError as err:
        raise TargetError(f"--payload {path}: not JSON ({err})") from None
    if isinstance(data, list):
        if not data or not all(isinstance(body, dict) for body in data):
            raise TargetError(f"--payload {path}: a list must hold one or more JSON objects (bodies)")
        return [json.dumps(body).encode() for body in data]
    if not isinstance(data, dict):
        raise TargetError(f"--payload {path}: a JSON object (one body) or a list of them")
    return [json.dumps(data).encode()]


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=CHECK_TIMEOUT_S) as answer:
        return json.loads(answer.read())


def _filled(shape: list[int], value: Any) -> Any:
    """A nested list of `shape` holding `value` (a -1 dimension taken as 1)."""
    if not shape:
        return value
    return [_filled(shape[1:], value) for _ in range(max(1, shape[0]))]


#: A value of each datatype (Open Inference Protocol's names; TF's DT_* names map onto them below).
_V2_VALUES = {"BOOL": False, "BYTES": "a", "FP16": 0.5, "FP32": 0.5, "FP64": 0.5}


def _v2_value(datatype: str) -> Any:
    return _V2_VALUES.get(datatype.upper(), 1)


def _tf_value(dtype: str) -> Any:
    kind = dtype.upper().removeprefix("DT_")
    if kind == "STRING":
        return "a"
    if kind == "BOOL":
        return False
    return 0.5 if kind in ("FLOAT", "DOUBLE", "HALF", "BFLOAT16") else 1


def generated_body(target: Target) -> bytes:
    """A request body from the model's metadata, for the protocols that publish one."""
    protocol = target.protocol
    if protocol == "v2":
        match = V2.match(target.url)
        assert match is not None
        meta = _get_json(f"{match['base']}/v2/models/{match['model']}")
        inputs = meta.get("inputs") or []
        if not inputs:
            raise TargetError(f"{target.name}: {target.url}: its metadata lists no inputs; give --payload")
        tensors = []
        for spec in inputs:
            shape = [max(1, int(d)) for d in spec["shape"]]
            count = 1
            for dim in shape:
                count *= dim
            tensors.append(
                {
                    "name": spec["name"],
                    "shape": shape,
                    "datatype": spec["datatype"],
                    "data": [_v2_value(spec["datatype"])] * count,
                }
            )
        return json.dumps({"inputs": tensors}).encode()
    if protocol == "v1":
        match = V1.match(target.url)
        assert match is not None
        meta = _get_json(f"{match['base']}/v1/models/{match['model']}/metadata")
        try:
            signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
            inputs = signature["inputs"]
        except (KeyError, TypeError):
            raise TargetError(
                f"{target.name}: {target.url}: no TF Serving signature in its metadata; give --payload"
            ) from None
        instance = {}
        for name, spec in inputs.items():
            dims = [int(d.get("size", 1)) for d in spec.get("tensor_shape", {}).get("dim", [])]
            # Row format: the first dimension is the batch, one instance of the rest.
            instance[name] = _filled(dims[1:], _tf_value(spec.get("dtype", "DT_FLOAT")))
        if len(instance) == 1:
            return json.dumps({"instances": list(instance.values())}).encode()
        return json.dumps({"instances": [instance]}).encode()
    raise TargetError(
        f"{target.name}: {target.url}: its protocol has no metadata to build a body from; give --payload"
    )


def prepare(target: Target, payload: list[bytes] | None) -> None:
    """Give the target its bodies and send each once: an unreachable target or a rejected body stops it.

    Raises TargetError with the server's own message (what a 4xx says about the body is the fix).
    """
    try:
        target.bodies = payload if payload is not None else [generated_body(target)]
    except urllib.error.HTTPError as err:
        raise TargetError(
            f"{target.name}: metadata read answered {err.code}: {_message(err)}; give --payload"
        ) from None
    except (urllib.error.URLError, OSError) as err:
        raise TargetError(f"{target.name}: {target.url} unreachable ({_reason(err)})") from None
    for body in target.bodies:
        request = urllib.request.Request(
            target.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=CHECK_TIMEOUT_S) as answer:
                answer.read()
        except urllib.error.HTTPError as err:
            raise TargetError(
                f"{target.name}: {target.url} answered {err.code} to the request body: {_message(err)}"
            ) from None
        except (urllib.error.URLError, OSError) as err:
            raise TargetError(f"{target.name}: {target.url} unreachable ({_reason(err)})") from None


def _message(err: urllib.error.HTTPError) -> str:
    text = err.read().decode("utf-8", "replace").strip()
    return " ".join(text.split())[:300] or err.reason


def _reason(err: Exception) -> str:
    reason = getattr(err, "reason", err)
    return str(reason)
