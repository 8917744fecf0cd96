"""Map the FuseML step environment onto the core's raw stack config, so the core validates it as `pulumi up`.

Step inputs (FuseML passes input `x` as `FUSEML_X`), one model entry keyed by the original step's names:
`FUSEML_MODEL`, `FUSEML_MODEL_NAME`, `FUSEML_OVMS_IMAGE_TAG`, `FUSEML_LOGLEVEL`, `FUSEML_NIREQ`,
`FUSEML_PLUGIN_CONFIG`, `FUSEML_BATCH_SIZE`, `FUSEML_SHAPE`, `FUSEML_TARGET_DEVICE`, `FUSEML_LAYOUT`,
`FUSEML_MODEL_VERSION_POLICY`, `FUSEML_REPLICAS`, `FUSEML_RESOURCES`, `FUSEML_RESOURCES_LIMITS`,
`FUSEML_PREDICTION_TYPE`, `FUSEML_ADOPT`, `FUSEML_READY_TIMEOUT_S`, and the backend inputs
`FUSEML_BACKEND`, `FUSEML_FORMAT`, `FUSEML_SERVER`, `FUSEML_RUNTIME`, `FUSEML_RUNTIME_VERSION`,
`FUSEML_PROTOCOL_VERSION` are passed through
as the strings FuseML gives (empty = not set); `FUSEML_PREDICTOR` (`auto|tensorflow|sklearn|triton`, the
kserve and seldon predictor steps' input) sets the format, or Triton as the runtime;
`FUSEML_APP_NAME` names the application (see `step.naming`); `FUSEML_VERBOSE` is the step's own switch.

Stack settings FuseML does not give a step come from the environment (set them in the workflow step's
`env`, or through an extension whose configuration FuseML injects):

* `FUSEML_ENV_WORKFLOW_NAMESPACE` -> `namespace`; `FUSEML_ENV_WORKFLOW_NAME` -> `fuseml.workflow`.
* `FUSEML_SERVING_DOMAIN` (or `ISTIO_DOMAIN`) -> `istio.domain`: the domain of the Istio ingress. When
  neither is set, it is read, as the original step did, from the host `*.<prefix>.<domain>` of the
  Gateway the FuseML installer created (`step.gateway`), which also gives `istio.host_prefix`.
* `FUSEML_SERVING_GATEWAY` (or `FUSEML_GATEWAY`) -> `istio.gateway`, default `ovms-gateway` (the
  installer's); `FUSEML_SERVING_HOST_PREFIX` -> `istio.host_prefix`; `FUSEML_SERVING_ENVIRONMENT` ->
  `environment`.
* `FUSEML_SERVER_URL` (the variable the FuseML CLI reads) -> `fuseml.url`, default the in-cluster
  service `http://fuseml-core.fuseml-core.svc.cluster.local`; `FUSEML_SERVING_REGISTER` -> `fuseml.register`.
* `S3_ENDPOINT` (or the mlflow-store extension's `MLFLOW_S3_ENDPOINT_URL`) -> `storage.s3_endpoint`;
  `AWS_REGION` (or `AWS_DEFAULT_REGION`) -> `storage.aws_region`; `FUSEML_SERVING_READ_TIMEOUT_S` ->
  `storage.read_timeout_s` (how long reading the model's store for `format: auto` may take).
* Secrets: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AZURE_STORAGE_CONNECTION_STRING`, and the file
  named by `GOOGLE_APPLICATION_CREDENTIALS` (its content) -> the core's secret keys.

The step always deploys into the cluster it runs in (`cluster.mode: existing`, in-cluster credentials)
and relies on the operator the FuseML ovms extension installed (`operator.install: false`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.config import (
    DEFAULTS,
    FALSE_WORDS,
    MODEL_DEFAULTS,
    MODEL_REQUIRED,
    TRUE_WORDS,
    ConfigError,
    StackConfig,
    parse,
)
from kernel.errors import StepInputError

if TYPE_CHECKING:
    from components.program import Prepared
from modelstore.errors import StoreError
from modelstore.stores import CREDENTIAL_ENV, credentials_from_env
from step import gateway, naming

#: Reads (domain, host prefix) from the installer's Gateway: (namespace, gateway name, env) -> Found.
Discover = Callable[[str, str, dict[str, str]], gateway.Found]

#: Model entry keys, taken from the core so a key it learns is a step input at once.
MODEL_KEYS: tuple[str, ...] = tuple(k for k in (*MODEL_REQUIRED, *MODEL_DEFAULTS) if k != "app_name")

#: The in-cluster FuseML core service the installer creates (Service fuseml-core in namespace fuseml-core).
DEFAULT_FUSEML_URL = "http://fuseml-core.fuseml-core.svc.cluster.local"
DEFAULT_RESULTS_DIR = "/tekton/results"
DEFAULT_LOCK_TIMEOUT_S = 300.0

#: Stack settings read from the environment: config path -> env names, first one set wins.
SETTING_ENV: dict[str, tuple[str, ...]] = {
    "namespace": ("FUSEML_ENV_WORKFLOW_NAMESPACE",),
    "environment": ("FUSEML_SERVING_ENVIRONMENT",),
    "istio.domain": ("FUSEML_SERVING_DOMAIN", "ISTIO_DOMAIN"),
    "istio.gateway": ("FUSEML_SERVING_GATEWAY", "FUSEML_GATEWAY"),
    "istio.host_prefix": ("FUSEML_SERVING_HOST_PREFIX",),
    "storage.s3_endpoint": ("S3_ENDPOINT", "MLFLOW_S3_ENDPOINT_URL"),
    "storage.aws_region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "storage.read_timeout_s": ("FUSEML_SERVING_READ_TIMEOUT_S",),
    "fuseml.url": ("FUSEML_SERVER_URL",),
    "fuseml.workflow": ("FUSEML_ENV_WORKFLOW_NAME",),
    "fuseml.register": ("FUSEML_SERVING_REGISTER",),
}

#: Secret config keys -> the env var the extension registry (or the pod spec) provides: modelstore's,
#: so the step deploys with the same credentials its model store is read with.
SECRET_ENV: dict[str, str] = CREDENTIAL_ENV

_TRUE = TRUE_WORDS
#: An empty input is FuseML's "not set".
_FALSE = (*FALSE_WORDS, "")


@dataclass(frozen=True)
class StepInputs:
    """Everything a run needs, read from the environment before anything talks to Pulumi."""

    app_name: str
    stack_name: str
    raw: dict[str, Any]
    secrets: dict[str, str]
    verbose: bool
    workflow: str | None
    result_file: Path
    lock_timeout_s: float
    domain_error: str | None = None
    """Why the domain could not be read from the installer's Gateway; reported among the other mistakes."""


def read(env: Mapping[str, str], workdir: Path, discover: Discover = gateway.discover) -> StepInputs:
    """Read and check the step's own inputs; the stack settings are checked by `validate`.

    `discover` reads the installer's Gateway when the workflow gives no domain (tests pass their own).
    """
    app = naming.app_name(env, workdir)
    raw = raw_config(env, app)
    istio = raw.setdefault("istio", {})
    domain_error = None
    if not istio.get("domain"):
        namespace = raw.get("namespace") or DEFAULTS["namespace"]
        try:
            found = discover(namespace, istio["gateway"], dict(env))
        except StepInputError as err:
            # Left unset, so `validate` reports this with every other mistake of the inputs.
            domain_error = str(err)
        else:
            istio["domain"] = found.domain
            istio.setdefault("host_prefix", found.host_prefix)
    return StepInputs(
        app_name=app,
        stack_name=naming.stack_name(app),
        raw=raw,
        secrets=secrets(env),
        verbose=flag(env, "FUSEML_VERBOSE"),
        workflow=_first(env, ("FUSEML_ENV_WORKFLOW_NAME",)),
        result_file=result_file(env),
        lock_timeout_s=seconds(env, "FUSEML_SERVING_LOCK_TIMEOUT_S", DEFAULT_LOCK_TIMEOUT_S),
        domain_error=domain_error,
    )


def validate(inputs: StepInputs) -> StackConfig:
    """Run the core's own parse, naming the step input behind a bad setting so the user knows what to fix."""
    try:
        return parse(inputs.raw, inputs.secrets)
    except ConfigError as err:
        raise StepInputError(_lines(inputs, err)) from err


def prepare(inputs: StepInputs) -> Prepared:
    """Validate and plan the inputs once, with the core's own `prepare` (the model's store is read with
    the step's credentials for `format: auto`), naming the step input behind each mistake."""
    from components.program import prepare as prepare_stack
    from step.runner import PROJECT

    try:
        return prepare_stack(inputs.raw, inputs.secrets, project=PROJECT, stack=inputs.stack_name)
    except ConfigError as err:
        raise StepInputError(_lines(inputs, err)) from err


def _lines(inputs: StepInputs, err: ConfigError) -> str:
    return "\n".join(
        inputs.domain_error
        if error.key == "istio.domain" and inputs.domain_error
        else f"{error}{_hint(error.key)}"
        for error in err.errors
    )


def _hint(key: str) -> str:
    source = env_for_key(key)
    return f" (step input: {source})" if source else ""


#: FuseML's kserve-predictor and seldon-core-predictor steps take `predictor: auto|tensorflow|sklearn|triton`
#: (fuseml/extensions images/inference-services/{kserve,seldon-core}/run.sh): a format to serve, or Triton.
PREDICTOR_FORMATS = {"tensorflow": "tensorflow", "sklearn": "sklearn"}
#: The runtime each backend runs Triton as (KServe's ServingRuntime, Seldon's prepackaged server).
TRITON = {"kserve": "kserve-tritonserver", "seldon": "TRITON_SERVER"}


def model_entry(env: Mapping[str, str], app: str) -> dict[str, str]:
    """The single model entry: every set input, unchanged (an empty input means not set, as in the core),
    and FuseML's `predictor` input read as the kserve and seldon predictor steps read it."""
    entry = {"app_name": app}
    for key in MODEL_KEYS:
        value = env.get(model_env(key))
        if value is not None and value.strip():
            entry[key] = value
    predictor = env.get("FUSEML_PREDICTOR", "").strip().lower()
    implied: tuple[str, str] | None = None
    if predictor in PREDICTOR_FORMATS:
        implied = ("format", PREDICTOR_FORMATS[predictor])
    elif predictor == "triton":
        backend = entry.get("backend", "").strip().lower()
        if backend not in TRITON:
            raise StepInputError(
                f"FUSEML_PREDICTOR: got 'triton'; allowed: with FUSEML_BACKEND kserve or seldon (got "
                f"{backend or 'nothing'}): Triton runs under one of those"
            )
        implied = ("runtime", TRITON[backend])
    if implied is not None:
        key, value = implied
        given = entry.get(key, "").strip()
        if given and given.lower() != value.lower():
            raise StepInputError(
                f"FUSEML_PREDICTOR: got {predictor!r}; allowed: a predictor that agrees with "
                f"{model_env(key)} ({given}), or only one of the two"
            )
        entry[key] = value
    elif predictor not in ("", "auto"):
        raise StepInputError(
            f"FUSEML_PREDICTOR: got {predictor!r}; allowed: auto, tensorflow, sklearn or triton (FuseML's "
            "kserve and seldon predictor steps' values)"
        )
    return entry


def raw_config(env: Mapping[str, str], app: str) -> dict[str, Any]:
    """The core's raw config for this run: fixed step choices, env settings, and the model entry."""
    raw: dict[str, Any] = {
        "cluster": {"mode": "existing"},
        "operator": {"install": False},
        "istio": {"gateway": gateway.DEFAULT_GATEWAY},
        "fuseml": {"url": DEFAULT_FUSEML_URL},
    }
    for path, names in SETTING_ENV.items():
        value = _first(env, names)
        if value is not None:
            _put(raw, path, value)
    raw["models"] = [model_entry(env, app)]
    return raw


def secrets(env: Mapping[str, str]) -> dict[str, str]:
    """The credentials the run deploys with; they become stack secrets, never plain config."""
    try:
        return credentials_from_env(env)
    except StoreError as err:
        raise StepInputError(str(err)) from None


def flag(env: Mapping[str, str], name: str) -> bool:
    """A boolean step input; anything but a clear true/false is refused rather than guessed."""
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise StepInputError(f"{name}: got {env[name]!r}; allowed: true or false")


def seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A non-negative duration in seconds."""
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise StepInputError(f"{name}: got {text!r}; allowed: a number of seconds >= 0")
    return value


def result_file(env: Mapping[str, str]) -> Path:
    """Where the prediction URL goes: Tekton's results dir, file TASK_RESULT (checked before deploying)."""
    name = env.get("TASK_RESULT", "").strip()
    if not name:
        raise StepInputError("TASK_RESULT is not set: FuseML names the step's output (prediction URL) in it")
    if "/" in name or name in (".", ".."):
        raise StepInputError(f"TASK_RESULT: got {name!r}; allowed: a result name, not a path")
    return Path(env.get("FUSEML_SERVING_RESULTS_DIR") or DEFAULT_RESULTS_DIR) / name


def model_env(key: str) -> str:
    """The env var FuseML sets for a model input."""
    return f"FUSEML_{key.upper()}"


def env_for_key(key: str) -> str | None:
    """The step input behind a core config key (`models[0].resources.requests` -> FUSEML_RESOURCES)."""
    if key.startswith("models["):
        field = key.split("]", 1)[1].lstrip(".").split(".", 1)[0]
        return model_env(field) if field else None
    for path, names in SETTING_ENV.items():
        if key == path or key.startswith(path + "."):
            return " or ".join(names)
    return None


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = env.get(name)
        if value is not None and value.strip():
            return value.strip()
    return None


def _put(raw: dict[str, Any], path: str, value: str) -> None:
    section, _, key = path.rpartition(".")
    if section:
        raw.setdefault(section, {})[key] = value
    else:
        raw[key] = value
