"""Build the real engine from Go modules: Pulumi CLI, Python host, Kubernetes provider, control plane.

Nothing here is downloaded as a release binary (none can be, on these machines): each piece is built from
the Go module proxy at the version of `testbed.versions`, in a scratch copy of the module, and cached
outside the repository by version and by the digest of our own Go sources, so it is rebuilt only when a
pin or a source changes. How each module must be built (which `replace` lines to drop, which generator to
run, which ldflags a release sets) was read from the modules' own go.mod files and Makefiles.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from testbed import versions

GO_SOURCES = Path(__file__).resolve().parent / "go"
PULUMI_PKG = "github.com/pulumi/pulumi/pkg/v3"
PULUMI_SDK = "github.com/pulumi/pulumi/sdk/v3"
K8S_PROVIDER = "github.com/pulumi/pulumi-kubernetes/provider/v4"
K8S_PROVIDER_SDK = "github.com/pulumi/pulumi-kubernetes/sdk/v4"
KUBERNETES = "k8s.io/kubernetes"
ETCD_SERVER = "go.etcd.io/etcd/server/v3"
OPERATOR = "github.com/openvinotoolkit/operator"
#: Names the multi-call control-plane binary answers to (testbed/go/kube/main.go).
KUBE_COMMANDS = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")


class ToolchainError(Exception):
    """A piece of the toolchain could not be built; the message names it and where its log is."""


def cache_root() -> Path:
    """Where built binaries live: $FUSEML_SERVING_TOOLCHAIN_CACHE, else ~/.cache/fuseml-serving/toolchain."""
    override = os.environ.get("FUSEML_SERVING_TOOLCHAIN_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fuseml-serving" / "toolchain"


def go_env() -> dict[str, str]:
    """The environment of every go command: modules may be edited, no cgo, the machine's own Go."""
    env = dict(os.environ)
    env.update(GOFLAGS="-mod=mod", CGO_ENABLED="0", GOTOOLCHAIN="local")
    return env


@dataclass(frozen=True)
class Piece:
    """One thing to build: its name, the key that decides a rebuild, and how to build it into a folder."""

    name: str
    key: str
    build: Callable[[Path, Path], None]
    """build(out_dir, log_path) writes the piece's executables into out_dir."""
    executables: tuple[str, ...]


class Builder:
    """Runs the go commands of one piece, every line of their output going to that piece's log."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def run(self, *args: str, cwd: Path, env: dict[str, str] | None = None, check: bool = True) -> str:
        with self.log.open("a", encoding="utf-8") as handle:
            handle.write(f"$ (cd {cwd} && {' '.join(args)})\n")
            handle.flush()
            result = subprocess.run(
                args, cwd=cwd, env=env or go_env(), stdout=subprocess.PIPE, stderr=handle, text=True
            )
            handle.write(result.stdout)
        if check and result.returncode != 0:
            raise ToolchainError(f"`{' '.join(args[:3])} ...` exited {result.returncode}")
        return result.stdout

    def download(self, module: str, version: str) -> Path:
        """The module's read-only directory in the module cache."""
        target = f"{module}@{version}"
        out = self.run("go", "mod", "download", "-json", target, cwd=self.log.parent, check=False)
        try:
            info = json.loads(out)
        except ValueError:
            raise ToolchainError(f"go mod download {target} printed no module information") from None
        if info.get("Error") or not info.get("Dir"):
            reason = info.get("Error", "no module directory").splitlines()[-1].strip()
            raise ToolchainError(f"downloading {module}@{version} failed: {reason}")
        return Path(info["Dir"])

    def build(self, src: Path, package: str, binary: Path, ldflags: str, tags: str = "") -> None:
        """`go build` one package of src into binary, reproducibly (-trimpath), with the given ldflags."""
        flags = ["-tags", tags] if tags else []
        self.run("go", "build", "-trimpath", *flags, "-ldflags", ldflags, "-o", str(binary), package, cwd=src)

    def writable_copy(self, module_dir: Path, scratch: Path) -> Path:
        """A writable copy of a module (the cache is read-only and loses exec bits)."""
        target = scratch / "src"
        shutil.copytree(module_dir, target, symlinks=True)
        for path in [target, *target.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
        return target


def _pulumi_cli(out: Path, builder: Builder, scratch: Path) -> None:
    version = f"v{versions.pulumi()}"
    src = builder.writable_copy(builder.download(PULUMI_PKG, version), scratch)
    # pkg/go.mod replaces the SDK with its sibling folder, absent from the module zip (pkg/go.mod).
    builder.run(
        "go", "mod", "edit", f"-dropreplace={PULUMI_SDK}", f"-require={PULUMI_SDK}@{version}", cwd=src
    )
    # Release build settings of the CLI (pulumi's Makefile/goreleaser): without the version ldflag the
    # Automation API's version check sees a dev build.
    ldflags = f"-X {PULUMI_SDK}/go/common/version.Version={version}"
    builder.build(src, "./cmd/pulumi", out / "pulumi", ldflags, tags="osusergo,grpcnotrace")


def _language_host(out: Path, builder: Builder, scratch: Path) -> None:
    version = f"v{versions.pulumi()}"
    src = scratch / "langhost"
    src.mkdir()
    shutil.copy(GO_SOURCES / "langhost" / "main.go", src / "main.go")
    builder.run("go", "mod", "init", "fuseml-serving/testbed/langhost", cwd=src)
    builder.run("go", "mod", "edit", f"-require={PULUMI_SDK}@{version}", cwd=src)
    ldflags = f"-X {PULUMI_SDK}/go/common/version.Version={version}"
    builder.build(src, ".", out / "pulumi-language-python", ldflags)
    # The two scripts a Python host needs are in the SDK module: the program runner, which must sit next
    # to the host, and the dynamic-provider host, which must be on PATH.
    sdk = builder.download(PULUMI_SDK, version)
    for script in ("python/cmd/pulumi-language-python-exec", "python/dist/pulumi-resource-pulumi-python"):
        target = out / Path(script).name
        shutil.copyfile(sdk / script, target)
        target.chmod(0o755)


def _kubernetes_provider(out: Path, builder: Builder, scratch: Path) -> None:
    version = versions.pulumi_kubernetes()
    src = builder.writable_copy(
        builder.download(K8S_PROVIDER, versions.kubernetes_provider_module()), scratch
    )
    builder.run(
        "go",
        "mod",
        "edit",
        f"-dropreplace={K8S_PROVIDER_SDK}",
        f"-require={K8S_PROVIDER_SDK}@v{version}",
        cwd=src,
    )
    # main.go embeds the schema files that `go generate` writes; they are not in the module zip.
    cmd = src / "cmd" / "pulumi-resource-kubernetes"
    builder.run("go", "run", "./generate.go", cwd=cmd, env={**go_env(), "VERSION": version})
    ldflags = f"-X {K8S_PROVIDER}/pkg/version.Version={version}"
    builder.build(src, "./cmd/pulumi-resource-kubernetes", out / "pulumi-resource-kubernetes", ldflags)


def _control_plane(out: Path, builder: Builder, scratch: Path) -> None:
    version = versions.KUBERNETES
    k8s = builder.download(KUBERNETES, f"v{version}")
    gomod = (k8s / "go.mod").read_text(encoding="utf-8")
    src = scratch / "kube"
    src.mkdir()
    shutil.copy(GO_SOURCES / "kube" / "main.go", src / "main.go")
    builder.run("go", "mod", "init", "fuseml-serving/testbed/kube", cwd=src)
    # k8s.io/kubernetes replaces every staging module with a folder of its own repository; point each at
    # its published module of the same release (v0.<minor>.<patch>) instead.
    edits = [f"-require={KUBERNETES}@v{version}", "-go=1.26.0"]
    staging = [line.split()[0] for line in gomod.splitlines() if "=> ./staging/" in line]
    edits += [f"-replace={module}={module}@v0.{version.split('.', 1)[1]}" for module in staging]
    edits.append(f"-require={ETCD_SERVER}@{_required(gomod, ETCD_SERVER)}")
    builder.run("go", "mod", "edit", *edits, cwd=src)
    major, minor, _ = version.split(".")
    base = "k8s.io/component-base/version"
    ldflags = f"-X {base}.gitVersion=v{version} -X {base}.gitMajor={major} -X {base}.gitMinor={minor}"
    builder.build(src, ".", out / "kube", ldflags)
    for command in KUBE_COMMANDS:
        (out / command).symlink_to("kube")


def _operator(out: Path, builder: Builder, scratch: Path) -> None:
    version = f"v{versions.operator()}"
    src = builder.writable_copy(builder.download(OPERATOR, version), scratch)
    # Its go.mod has no replace lines; the binary of ./cmd is the helm operator, and the chart and the
    # watches files it reads sit beside it in the module.
    builder.build(src, "./cmd", out / "ovms-operator", ldflags="")
    shutil.copytree(src, out / "operator", symlinks=True)


def _required(gomod: str, module: str) -> str:
    for line in gomod.splitlines():
        parts = line.split()
        if parts[:1] == [module] and len(parts) >= 2:
            return parts[1]
    raise ToolchainError(f"{KUBERNETES} go.mod requires no {module}")


def _recipe(build: Callable[..., None], *sources: Path) -> str:
    """Digest of how a piece is built: its build function's own text and our Go sources it compiles.

    A changed recipe (a dropped replace, a new ldflag) then rebuilds the piece, as a changed pin does,
    while an edit elsewhere in this file leaves every cached piece alone.
    """
    sha = hashlib.sha256(inspect.getsource(build).encode())
    for path in sources:
        sha.update(path.read_bytes())
    return sha.hexdigest()[:12]


def pieces(with_operator: bool = False) -> list[Piece]:
    """What the test bed needs, each keyed by its versions and the digest of our own sources."""
    found = [
        Piece("pulumi-cli", f"pulumi-{versions.pulumi()}-{_recipe(_pulumi_cli)}", _pulumi_cli, ("pulumi",)),
        Piece(
            "language-host",
            f"langhost-{versions.pulumi()}-{_recipe(_language_host, GO_SOURCES / 'langhost' / 'main.go')}",
            _language_host,
            ("pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"),
        ),
        Piece(
            "kubernetes-provider",
            f"pulumi-kubernetes-{versions.pulumi_kubernetes()}-{_recipe(_kubernetes_provider)}",
            _kubernetes_provider,
            ("pulumi-resource-kubernetes",),
        ),
        Piece(
            "control-plane",
            f"kube-{versions.KUBERNETES}-{_recipe(_control_plane, GO_SOURCES / 'kube' / 'main.go')}",
            _control_plane,
            ("kube", *KUBE_COMMANDS),
        ),
    ]
    if with_operator:
        key = f"operator-{versions.operator()}-{_recipe(_operator)}"
        found.append(Piece("operator", key, _operator, ("ovms-operator",)))
    return found


def build_piece(piece: Piece, root: Path, say: Callable[[str], None]) -> Path:
    """Build one piece unless its folder is complete; returns that folder."""
    done = root / piece.key
    if (done / ".complete").exists():
        return done
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{piece.key}.log"
    log.write_text("", encoding="utf-8")
    say(f"building {piece.name} ({piece.key}); log: {log}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"{piece.name}-", dir=root) as scratch:
        out = Path(scratch) / "out"
        out.mkdir()
        try:
            piece.build(out, Builder(log), Path(scratch))
        except ToolchainError as err:
            raise ToolchainError(f"building {piece.name} failed: {err}; log: {log}") from None
        except OSError as err:
            raise ToolchainError(f"building {piece.name} failed: {err}; log: {log}") from None
        missing = [name for name in piece.executables if not (out / name).exists()]
        if missing:
            raise ToolchainError(f"building {piece.name} produced no {', '.join(missing)}; log: {log}")
        (out / ".complete").write_text(f"{time.monotonic() - started:.0f}s\n", encoding="utf-8")
        shutil.rmtree(done, ignore_errors=True)
        out.rename(done)
    say(f"built {piece.name} in {time.monotonic() - started:.0f}s")
    return done


def ensure(with_operator: bool = False, say: Callable[[str], None] | None = None) -> Path:
    """Build what is missing and return the folder holding every executable (pulumi, kubectl, ...)."""
    return _ensure_locked(pieces(with_operator), say)


def ensure_control_plane(say: Callable[[str], None] | None = None) -> Path:
    """Build what is missing of the control plane alone (etcd, kube-apiserver, ..., kubectl) and return
    its bin folder: for tests of the cluster and its stand-ins, which run no Pulumi."""
    return _ensure_locked([piece for piece in pieces() if piece.name == "control-plane"], say)


def _ensure_locked(wanted: list[Piece], say: Callable[[str], None] | None) -> Path:
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    if shutil.which("go") is None:
        raise ToolchainError(
            "no Go toolchain on PATH: the test bed builds its binaries with Go 1.26 or newer"
        )
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    # One build at a time per cache: a second `testbed toolchain` (or test session) waits, then reuses.
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure(root, wanted, say)


def _ensure(root: Path, wanted: list[Piece], say: Callable[[str], None]) -> Path:
    # Two at a time: module downloads of one overlap the compile of the other on a 2-core machine. The
    # first failure cancels what has not started: its one line is the answer.
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {piece: pool.submit(build_piece, piece, root, say) for piece in wanted}
        try:
            folders = {piece: future.result() for piece, future in futures.items()}
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    bin_dir = root / ("bin-" + hashlib.sha256("/".join(p.key for p in wanted).encode()).hexdigest()[:12])
    if not (bin_dir / ".complete").exists():
        bin_dir.mkdir(exist_ok=True)
        for piece, folder in folders.items():
            for name in piece.executables:
                link = bin_dir / name
                if link.is_symlink() or link.exists():
                    link.unlink()
                # Not resolved: the control plane picks its command by the name it is run as, and the
                # language host finds its exec script beside its own (resolved) path anyway.
                link.symlink_to(folder / name)
            if (folder / "operator").exists() and not (bin_dir / "operator").is_symlink():
                (bin_dir / "operator").symlink_to(folder / "operator")
        (bin_dir / ".complete").write_text("", encoding="utf-8")
    return bin_dir
