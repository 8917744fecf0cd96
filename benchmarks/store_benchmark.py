"""Store reads of `format: auto`: many models against a local S3 server, and unreachable stores.

Prints, each measurement in a fresh subprocess (so its peak RSS is its own):

* N models (default 2,000) with `format: auto` on a local MinIO (tests/s3server.py), every folder an
  MLflow model (MLmodel + model file): wall time of the core's `prepare` (the reading `pulumi up` and the
  step do) and the process's peak RSS. Targets: under 30 s and under 400 MB.
* an unreachable store, refused: an s3:// endpoint on a closed port of 127.0.0.1, an s3:// endpoint that
  accepts no connection and answers nothing (a listening socket whose backlog is full: connections stall
  as to an unroutable address), and a gs:// store with no network (the Google client pointed, through its
  own STORAGE_EMULATOR_HOST override, at that stalled socket, and a service-account key whose token_uri
  is there too); for 10 and for N models. Target: refused in under 20 s whatever the number of models
  (the bound, storage.read_timeout_s, is 15 s by default).
* the converter (`python -m convert`) on the stalled gs:// and s3:// stores: time to its one-line exit 2
  (one folder, read with the same clients, each call bounded by the default 15 s).

Figures are printed, never asserted. Nothing leaves 127.0.0.1.

    python benchmarks/store_benchmark.py [--models 2000]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MLMODEL = """artifact_path: model
flavors:
  python_function:
    loader_module: mlflow.sklearn
    model_path: model.pkl
  sklearn:
    pickled_model: model.pkl
    sklearn_version: 1.5.0
"""
BASE = {"istio": {"domain": "bench.nip.io"}, "fuseml": {"register": False}, "operator": {"install": False}}


def child(spec: dict) -> None:
    """Prepare one stack (spec: storage, models, secrets, env) and print the figures as JSON."""
    os.environ.update(spec.get("env", {}))
    from components.config import ConfigError
    from components.program import prepare

    raw = {**BASE, "storage": spec["storage"], "models": spec["models"]}
    start = time.perf_counter()
    try:
        prepared = prepare(raw, spec["secrets"], project="bench", stack="bench")
        outcome = {
            "planned": len(prepared.plans),
            "formats": sorted({p.format for p in prepared.plans.values()}),
        }
    except ConfigError as err:
        lines = str(err).splitlines()
        outcome = {"refused_lines": len(lines), "first": lines[0]}
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall_s": round(wall, 2), "peak_mb": round(peak_mb), **outcome}))


def measure(spec: dict) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    try:
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, __file__, "--child", handle.name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        process_s = time.perf_counter() - start
    finally:
        os.unlink(handle.name)
    if out.returncode != 0:
        raise SystemExit(f"child failed:\n{out.stderr}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    figures["process_s"] = round(process_s, 2)
    figures["stderr_lines"] = len([line for line in out.stderr.splitlines() if line.strip()])
    return figures


def fill(server, bucket: str, models: int) -> None:
    """Write `models` MLflow sklearn model folders (MLmodel + model.pkl) into bucket, concurrently."""
    client = server.client()

    def one(i: int) -> None:
        client.put_object(Bucket=bucket, Key=f"models/{i}/MLmodel", Body=MLMODEL.encode())
        client.put_object(Bucket=bucket, Key=f"models/{i}/model.pkl", Body=b"\x80\x04N.")

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(models)))


def stalled_socket() -> socket.socket:
    """A listening socket on 127.0.0.1 that never accepts: once its backlog is full, new connections get
    no answer at all, as to an unroutable address; those in the backlog get no reply."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(0)
    return sock


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_account_key(token_uri: str) -> str:
    """A well-formed service-account key (a fresh RSA key, no account behind it) whose token_uri is local."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "bench",
            "private_key_id": "0",
            "private_key": pem,
            "client_email": "bench@bench.iam.gserviceaccount.com",
            "token_uri": token_uri,
        }
    )


def models_at(prefix: str, count: int) -> list[dict]:
    return [{"app_name": f"m{i}", "model": f"{prefix}/{i}"} for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=2000)
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(json.loads(Path(args.child).read_text()))
        return

    from tests import s3server

    rows = []
    with s3server.running() as server:
        bucket = server.make_bucket(f"bench-{uuid.uuid4().hex[:8]}")
        start = time.perf_counter()
        fill(server, bucket, args.models)
        print(f"(wrote {args.models} model folders to MinIO in {time.perf_counter() - start:.1f} s)")
        for count in sorted({10, args.models}):
            spec = {
                "storage": {"s3_endpoint": server.endpoint},
                "models": models_at(f"s3://{bucket}/models", count),
                "secrets": server.credentials(),
            }
            rows.append((f"MinIO, format: auto, {count} models", measure(spec)))

    stalled = stalled_socket()
    port = stalled.getsockname()[1]
    # Fill the backlog, so the clients' connections stall at connect (no SYN-ACK) as well as after it.
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    secrets = {"aws_access_key_id": "bench-id", "aws_secret_access_key": "bench-secret"}
    key = service_account_key(f"http://127.0.0.1:{port}/token")
    for count in sorted({10, args.models}):
        cases = {
            "s3://, closed port on 127.0.0.1": {
                "storage": {"s3_endpoint": f"http://127.0.0.1:{closed_port()}"},
                "models": models_at("s3://bench/models", count),
                "secrets": secrets,
            },
            "s3://, endpoint that never answers": {
                "storage": {"s3_endpoint": f"http://127.0.0.1:{port}"},
                "models": models_at("s3://bench/models", count),
                "secrets": secrets,
            },
            "gs://, no network (endpoint and token_uri stalled)": {
                "storage": {},
                "models": models_at("gs://bench/models", count),
                "secrets": {"gcs_credentials": key},
                "env": {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}"},
            },
        }
        for name, spec in cases.items():
            rows.append((f"{name}, {count} models", measure(spec)))
    # The converter reads its source with the same clients, each call bounded (no detect_many: one folder).
    converter = {
        "converter (python -m convert), gs:// no network": {
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}",
            "FUSEML_INPUT_MODEL": "gs://bench/models/0",
        },
        "converter (python -m convert), s3:// never answers": {
            "S3_ENDPOINT": f"http://127.0.0.1:{port}",
            "FUSEML_INPUT_MODEL": "s3://bench/models/0",
            **{
                "AWS_ACCESS_KEY_ID": "bench-access-key-id",
                "AWS_SECRET_ACCESS_KEY": "bench-secret-access-key",
            },
        },
    }
    for name, env in converter.items():
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "convert"],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=600,
        )
        took = round(time.perf_counter() - start, 2)
        first = (out.stderr.strip().splitlines() or [""])[-1]
        rows.append(
            (
                name,
                {"wall_s": took, "process_s": took, "peak_mb": "-", "exit": out.returncode, "first": first},
            )
        )
    for filler in fillers:
        filler.close()
    stalled.close()

    print(f"{'case':<70} {'prepare s':>9} {'process s':>9} {'peak MB':>8}  outcome")
    for name, figures in rows:
        if "exit" in figures:
            outcome = f"exit {figures['exit']}"
        elif "planned" in figures:
            outcome = f"planned {figures['planned']} ({', '.join(figures['formats'])})"
        else:
            outcome = f"refused in {figures['refused_lines']} line(s)"
        if figures.get("stderr_lines"):
            outcome += f", {figures['stderr_lines']} stderr lines"
        print(
            f"{name:<70} {figures['wall_s']:>9} {figures['process_s']:>9} {figures['peak_mb']:>8}  {outcome}"
        )
    for name, figures in rows:
        if "first" in figures:
            print(f"\n{name}:\n  {figures['first']}")


if __name__ == "__main__":
    main()
