"""Deploy one application's stack through the Pulumi Automation API: lockable, diffable, with history.

Design choices:

* Inline program (`create_or_select_stack(..., program=program)`) rather than a LocalWorkspace on the repo:
  the program runs in this interpreter, which already imported and validated the core, so the image needs
  no Pulumi.yaml/virtualenv discovery and cannot run a different copy of the code. The program is the
  core's `build(load())`, exactly what `__main__.py` runs under `pulumi up`, and it reads the stack's own
  config, so what `pulumi config` shows on the stack is what was deployed.
* One stack per application (`step.naming.stack_name`), project `fuseml-serving`, in the backend given by
  `PULUMI_BACKEND_URL`, e.g. the MLflow artifact store's bucket:
  `s3://mlflow-artifacts/pulumi?endpoint=mlflow-minio.mlflow:9000&s3ForcePathStyle=true&region=us-east-1`
  (the minio credentials from the mlflow-store extension are the same `AWS_*` variables).
* Secrets use the passphrase provider (`PULUMI_CONFIG_PASSPHRASE` or `PULUMI_CONFIG_PASSPHRASE_FILE`). The
  stack settings file lives in a throwaway work dir, so `PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER` makes
  the CLI reuse the salt recorded in the state instead of minting a new one each run; the config itself is
  set again from the inputs on every run (`pulumi config refresh` rebuilds it from the last update).
* A locked stack is retried with backoff up to `FUSEML_SERVING_LOCK_TIMEOUT_S`, then reported with how to
  clear a lock left by a killed run.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from pulumi import automation as auto

from components.config import NAMESPACE
from kernel.errors import DeployError, StackLockedError, StepSetupError
from kernel.redact import Redactor
from step.inputs import StepInputs

if TYPE_CHECKING:
    from components.program import Prepared

PROJECT = "fuseml-serving"
#: Passed to every CLI call: reuse the state's secrets provider salt, and never phone home from a pod.
CLI_ENV = {"PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER": "true", "PULUMI_SKIP_UPDATE_CHECK": "true"}
#: Engine log level in verbose mode: resource operations and diffs, short of raw RPC payloads.
VERBOSE_LOG_LEVEL = 3
FIRST_BACKOFF_S = 2.0
MAX_BACKOFF_S = 30.0

_PLUGIN_MISSING = re.compile(
    r"no resource plugin|could not load plugin|failed to (download|install|load) plugin"
    r"|error resolving plugin",
    re.IGNORECASE,
)
_PASSPHRASE = re.compile(r"incorrect passphrase|passphrase must be set|getting secrets manager", re.I)
_LOCK_LINE = re.compile(r"lock", re.IGNORECASE)
#: A readiness failure (components/readiness/provider.py): one line per model, naming its app; the first
#: after the engine's `error: `, the stack gate's others on lines of their own.
_NOT_READY = re.compile(r"^(?:error: )?(app \S+ \(backend \S+\)(?: is not ready after |: ).*)$")


class StackLike(Protocol):
    """The part of `auto.Stack` the step uses; tests pass a recorder with the same shape."""

    name: str

    def set_all_config(self, config: Mapping[str, auto.ConfigValue], *, path: bool = False) -> None: ...

    def up(self, **kwargs: Any) -> Any: ...


#: Opens (creates or selects) a stack: (stack name, inline program, workspace options) -> stack.
StackFactory = Callable[[str, Callable[[], None], auto.LocalWorkspaceOptions], StackLike]


@dataclass(frozen=True)
class Backend:
    """Where state lives and how its secrets are encrypted."""

    url: str
    passphrase: str | None

    @property
    def self_managed(self) -> bool:
        """A DIY backend (s3://, gs://, azblob://, file://) needs a passphrase; Pulumi Cloud manages keys."""
        return not self.url.startswith(("https://", "http://"))


@dataclass
class Console:
    """Prints lines, each through the redactor first, so nothing the step prints can carry a secret."""

    redact: Redactor
    out: TextIO
    err: TextIO

    def info(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            print(self.redact(line), file=self.out, flush=True)

    def error(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            print(self.redact(line), file=self.err, flush=True)

    def engine_error(self, text: str) -> None:
        """The CLI's own stderr, marked as such: the step's one `error:` line stays the only one.

        A locked stack makes every attempt print the CLI's "error: the stack is currently locked"; a
        workflow log (and whoever greps it) must still see exactly one line saying why the step failed.
        """
        for line in text.splitlines() or [""]:
            print(self.redact(f"pulumi: {line}"), file=self.err, flush=True)


@dataclass(frozen=True)
class Boundary:
    """What the step needs from the machine, injectable so tests can record calls without a CLI."""

    which: Callable[[str], str | None]
    factory: StackFactory
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def backend(env: Mapping[str, str]) -> Backend:
    """The state backend and passphrase, refused early and clearly when missing."""
    url = env.get("PULUMI_BACKEND_URL", "").strip()
    if not url:
        raise StepSetupError(
            "PULUMI_BACKEND_URL is not set: point it at durable storage, e.g. the MLflow artifact store "
            "s3://<bucket>/pulumi?endpoint=mlflow-minio.mlflow:9000&s3ForcePathStyle=true&region=us-east-1"
        )
    found = Backend(url=url, passphrase=_passphrase(env))
    if found.self_managed and found.passphrase is None:
        raise StepSetupError(
            "PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE is not set: the stack's secrets "
            "(storage credentials) are encrypted with it"
        )
    return found


def _passphrase(env: Mapping[str, str]) -> str | None:
    if "PULUMI_CONFIG_PASSPHRASE" in env:
        return env["PULUMI_CONFIG_PASSPHRASE"]
    path = env.get("PULUMI_CONFIG_PASSPHRASE_FILE", "").strip()
    if not path:
        return None
    try:
        # Read only to mask it in output; the CLI reads the file itself.
        return Path(path).read_text().strip()
    except OSError as err:
        raise StepSetupError(f"PULUMI_CONFIG_PASSPHRASE_FILE={path!r} unreadable: {err.strerror}") from None


def require_cli(which: Callable[[str], str | None]) -> None:
    """Fail with one line when the Pulumi CLI is absent, before any stack operation tries to run it."""
    if which("pulumi") is None:
        raise StepSetupError(
            "the Pulumi CLI is not installed or not on PATH: run this step in its image, which bakes in a "
            "pinned CLI and provider plugins"
        )


def stack_config(raw: Mapping[str, Any], secrets: Mapping[str, str]) -> dict[str, auto.ConfigValue]:
    """Stack config of the inputs: objects as JSON text, which `get_object` reads; secrets flagged."""
    config = {
        f"{NAMESPACE}:{key}": auto.ConfigValue(value if isinstance(value, str) else json.dumps(value))
        for key, value in raw.items()
    }
    for key, value in secrets.items():
        config[f"{NAMESPACE}:{key}"] = auto.ConfigValue(value, secret=True)
    return config


def program() -> None:
    """The stack's program read from its own config, as `__main__.py` runs under `pulumi up` (what a
    Pulumi command on the application's stack outside the step runs)."""
    from components.program import run

    run()


@dataclass(frozen=True)
class InlineProgram:
    """The step's inline program: the stack the step prepared (validated and planned once, before any
    Pulumi call), registered and exported as `__main__.py` does under `pulumi up`."""

    prepared: Prepared

    def __call__(self) -> None:
        from components.program import run_prepared

        run_prepared(self.prepared)


def workspace_options(found: Backend) -> auto.LocalWorkspaceOptions:
    """Workspace options: the passphrase provider for a self-managed backend, and the CLI environment."""
    return auto.LocalWorkspaceOptions(
        secrets_provider="passphrase" if found.self_managed else None,
        env_vars=dict(CLI_ENV),
    )


def default_factory(name: str, fn: Callable[[], None], opts: auto.LocalWorkspaceOptions) -> StackLike:
    """Create or select the stack with the real Automation API (needs the CLI).

    The SDK's create-or-select is a select, then a create when none was found: two first runs of one
    application at once both find none, and the slower create fails, with "already exists" or, once the
    twin's update holds the new stack's lock, with "currently locked". That run selects the stack its
    twin just created, and then waits for the lock like any concurrent run.
    """
    try:
        return auto.create_or_select_stack(stack_name=name, project_name=PROJECT, program=fn, opts=opts)
    except (auto.StackAlreadyExistsError, auto.ConcurrentUpdateError):
        return auto.select_stack(stack_name=name, project_name=PROJECT, program=fn, opts=opts)


def up_arguments(inputs: StepInputs, console: Console) -> dict[str, Any]:
    """Arguments of `stack.up`: streamed, uncoloured output; verbose adds the diff and engine logs."""
    kwargs: dict[str, Any] = {
        "on_output": console.info,
        "on_error": console.engine_error,
        "color": "never",
        "message": f"FuseML workflow {inputs.workflow or '(unknown)'}: application {inputs.app_name}",
        # The summary is not printed, but keep decrypted config out of the result object all the same.
        "show_secrets": False,
        "suppress_progress": True,
    }
    if inputs.verbose:
        kwargs.update(diff=True, log_verbosity=VERBOSE_LOG_LEVEL, log_to_std_err=True)
    return kwargs


def open_stack(
    inputs: StepInputs, found: Backend, factory: StackFactory, fn: Callable[[], None] = program
) -> StackLike:
    """Create or select the application's stack, turning a missing CLI into a setup error."""
    try:
        return factory(inputs.stack_name, fn, workspace_options(found))
    except (FileNotFoundError, auto.InvalidVersionError) as err:
        # LocalWorkspace runs `pulumi version` first; a missing or unusable binary surfaces here.
        raise StepSetupError(f"the Pulumi CLI cannot be run: {err}") from None
    except auto.CommandError as err:
        raise classify(err, f"cannot open stack {inputs.stack_name!r} in {found.url}") from None


def up_waiting_for_lock(
    stack: StackLike,
    kwargs: dict[str, Any],
    timeout_s: float,
    boundary: Boundary,
    console: Console,
    backend_url: str,
) -> Any:
    """Run `up`, retrying a locked stack with backoff until timeout_s, so concurrent runs serialise."""
    deadline = boundary.clock() + timeout_s
    delay = FIRST_BACKOFF_S
    while True:
        try:
            return stack.up(**kwargs)
        except auto.ConcurrentUpdateError as err:
            remaining = deadline - boundary.clock()
            if remaining <= 0:
                raise StackLockedError(locked_message(stack.name, err, timeout_s, backend_url)) from None
            wait = min(delay, remaining)
            console.info(f"stack {stack.name} is locked by another update; retrying in {wait:.0f}s")
            boundary.sleep(wait)
            delay = min(delay * 2, MAX_BACKOFF_S)
        except auto.CommandError as err:
            raise classify(err, f"pulumi up failed for stack {stack.name!r}") from None


def locked_message(name: str, err: Exception, timeout_s: float, backend_url: str) -> str:
    """Say who holds the lock and how to clear it if its owner was killed."""
    holders = [line.strip() for line in _stderr(err).splitlines() if _LOCK_LINE.search(line)]
    held = f" ({'; '.join(holders)})" if holders else ""
    return (
        f"stack {name!r} is still locked after {timeout_s:.0f}s{held}. If no other run for this application "
        f"is in progress (a killed step leaves its lock), clear it with `pulumi cancel --stack {name}` "
        f"(PULUMI_BACKEND_URL={backend_url}), or delete the lock file under "
        f".pulumi/locks/organization/{PROJECT}/{name}/ in the backend, then rerun the workflow"
    )


def classify(err: auto.CommandError, context: str) -> DeployError | StepSetupError:
    """One line for a CLI failure: a missing plugin or bad passphrase is setup, the rest a deploy failure;
    a model that did not become ready is said with its gate's own line (one per model)."""
    reasons = not_ready(str(err))
    if reasons:
        return DeployError("\n".join(reasons))
    detail = _first_error_line(err)
    if _PLUGIN_MISSING.search(str(err)):
        return StepSetupError(f"a Pulumi provider plugin is missing: {detail}; the step image bakes them in")
    if _PASSPHRASE.search(str(err)):
        return StepSetupError(f"{context}: {detail}")
    return DeployError(f"{context}: {detail}")


def not_ready(text: str) -> list[str]:
    """The readiness gates' failure lines in the engine's output, each once, in order."""
    found: list[str] = []
    for line in text.splitlines():
        match = _NOT_READY.search(line.strip())
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


def readiness(outputs: Mapping[str, Any], app: str) -> str:
    """What the step says of the app's readiness: when it became ready and how long that took, or that
    it was not checked (ready_timeout_s 0)."""
    serving = _value(outputs.get("serving"))
    entry = serving.get(app) if isinstance(serving, Mapping) else None
    if not isinstance(entry, Mapping):
        return f"{app}: readiness unknown (no serving output)"
    if entry.get("readiness") != "checked":
        return f"{app}: readiness {entry.get('readiness', 'not checked')}"
    return (
        f"{app} ({entry.get('backend')}): ready at {entry.get('ready_at')}, {entry.get('ready_after_s')} s "
        "after its objects were applied"
    )


def prediction_url(outputs: Mapping[str, Any], app: str) -> str:
    """The app's URL from the stack outputs: its entry in prediction_urls, else the single prediction_url."""
    urls = _value(outputs.get("prediction_urls"))
    url = urls.get(app) if isinstance(urls, Mapping) else None
    url = url or _value(outputs.get("prediction_url"))
    if not isinstance(url, str) or not url:
        raise DeployError(f"the update succeeded but the stack outputs have no prediction URL for {app!r}")
    return url


def write_result(path: Path, url: str) -> None:
    """Write the step output exactly, with no trailing newline (Tekton results are compared byte for byte)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(url)


def deploy(
    inputs: StepInputs, prepared: Prepared, env: Mapping[str, str], boundary: Boundary, console: Console
) -> str:
    """Deploy the prepared stack of these inputs and write the prediction URL; returns the URL."""
    found = backend(env)
    if found.passphrase:
        console.redact.add(found.passphrase)
    require_cli(boundary.which)
    stack = open_stack(inputs, found, boundary.factory, InlineProgram(prepared))
    config = stack_config(inputs.raw, inputs.secrets)
    if inputs.verbose:
        shown = json.dumps(inputs.raw, sort_keys=True)
        console.info(f"stack {inputs.stack_name} in {found.url}; config: {shown}")
    try:
        stack.set_all_config(config)
    except auto.CommandError as err:
        raise classify(err, f"cannot set the config of stack {inputs.stack_name!r}") from None
    result = up_waiting_for_lock(
        stack, up_arguments(inputs, console), inputs.lock_timeout_s, boundary, console, found.url
    )
    # Only a model that is ready (or not checked: ready_timeout_s 0) gets here: a gate that failed failed
    # the update, and no URL is written.
    console.info(readiness(result.outputs, inputs.app_name))
    url = prediction_url(result.outputs, inputs.app_name)
    write_result(inputs.result_file, url)
    return url


def _value(output: Any) -> Any:
    return output.value if isinstance(output, auto.OutputValue) else output


def _stderr(err: Exception) -> str:
    text = str(err)
    return text.split(" stderr:", 1)[1] if " stderr:" in text else text


def _first_error_line(err: Exception) -> str:
    lines = [line.strip() for line in _stderr(err).splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error:")]
    chosen = (errors or lines or [type(err).__name__])[0]
    return chosen.removeprefix("error:").strip()
