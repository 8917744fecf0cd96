"""A real S3-compatible server on 127.0.0.1 for the store tests: MinIO, built from its Go module and cached.

Both test trees import it (tests/ in the main environment, convert/tests in the converter's), so it needs
nothing but the standard library. MinIO's releases are tagged RELEASE.<date>, which Go does not read as
versions, so the module proxy serves it by pseudo-version; the pin below is that of a commit on its main
branch. A fresh machine builds it in about two minutes (2 cores), later runs reuse the binary.

    python -m tests.s3server build      # build (or find) the binary and print its path
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MINIO_MODULE = "github.com/minio/minio"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
START_TIMEOUT_S = 30.0


def cache_dir() -> Path:
    """Where the binary is kept: $FUSEML_SERVING_MINIO_CACHE, else ~/.cache/fuseml-serving/minio/<pin>."""
    override = os.environ.get("FUSEML_SERVING_MINIO_CACHE")
    if override:
        return Path(override) / MINIO_VERSION
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fuseml-serving" / "minio" / MINIO_VERSION


def ensure_minio() -> Path:
    """The MinIO binary at the pin, built with `go install` when missing (one build at a time)."""
    out = cache_dir()
    binary = out / "minio"
    if binary.is_file():
        return binary
    out.mkdir(parents=True, exist_ok=True)
    with (out / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file():
            return binary
        if shutil.which("go") is None:
            raise RuntimeError("building MinIO for the S3 tests needs Go on the PATH (Go 1.24 or later)")
        log = out / "build.log"
        with tempfile.TemporaryDirectory() as scratch:
            # Same settings as the test bed's toolchain: no cgo, the machine's own Go, reproducible paths.
            env = dict(os.environ, GOBIN=scratch, CGO_ENABLED="0", GOTOOLCHAIN="local", GOFLAGS="-mod=mod")
            with log.open("w") as handle:
                result = subprocess.run(
                    ["go", "install", "-trimpath", f"{MINIO_MODULE}@{MINIO_VERSION}"],
                    cwd=scratch,
                    env=env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                )
            if result.returncode != 0:
                raise RuntimeError(f"building MinIO failed (exit {result.returncode}); see {log}")
            # Moved in only once complete, so an interrupted build is never taken for a binary.
            shutil.move(str(Path(scratch) / "minio"), binary)
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class S3Server:
    """A running MinIO: its endpoint and root credentials (random per run, never a fixed secret)."""

    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen

    def credentials(self) -> dict[str, str]:
        """Keyed as modelstore's CREDENTIAL_KEYS."""
        return {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key}

    def env(self) -> dict[str, str]:
        """The environment variables a FuseML step receives from the mlflow-store extension."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "S3_ENDPOINT": self.endpoint,
        }

    def client(self):
        """A boto3 client on the server (for setting up and checking buckets in tests)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}),
        )

    def make_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name


@contextlib.contextmanager
def running(data_dir: Path | None = None) -> Iterator[S3Server]:
    """Start MinIO on a free loopback port with a fresh data folder; stop it (and only it) afterwards."""
    binary = ensure_minio()
    port, console = _free_port(), _free_port()
    access, secret = f"test{secrets.token_hex(4)}", secrets.token_hex(16)
    with contextlib.ExitStack() as stack:
        data = data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="minio-")))
        log = (data.parent / f"minio-{port}.log").open("w")
        stack.callback(log.close)
        env = dict(
            os.environ,
            MINIO_ROOT_USER=access,
            MINIO_ROOT_PASSWORD=secret,
            MINIO_BROWSER="off",
            MINIO_UPDATE="off",
            MINIO_CI_CD="1",
        )
        process = subprocess.Popen(
            [
                str(binary),
                "server",
                "--quiet",
                "--address",
                f"127.0.0.1:{port}",
                "--console-address",
                f"127.0.0.1:{console}",
                str(data / "data"),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        stack.callback(_stop, process)
        endpoint = f"http://127.0.0.1:{port}"
        _wait_ready(endpoint, process)
        yield S3Server(endpoint, access, secret, process)


def _die_with_parent() -> None:
    """Have the kernel stop MinIO when the test process dies without its teardown (a crash, a kill -9):
    prctl(PR_SET_PDEATHSIG, SIGTERM), Linux only; elsewhere teardown alone stops it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass


def _wait_ready(endpoint: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"MinIO exited {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{endpoint}/minio/health/live", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"MinIO did not answer at {endpoint} within {START_TIMEOUT_S:.0f} s")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python -m tests.s3server build")
    print(ensure_minio())
