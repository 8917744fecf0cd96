"""What every model entry has, whatever serves it, and the checks that need the stack's other sections.

The stack model (components/config/stack.py) adds each backend's own keys to these, from the backends'
settings (components/backends/*), so a key only one backend reads is declared in that backend's file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, ValidationInfo, model_validator

from components.config.base import Required, Settings
from components.config.errors import Refusal, raise_refusals
from components.config.quantities import DEFAULT_RESOURCES, ExtraLimits, Resources, resolved_resources
from components.config.readers import (
    IMAGE_TAG,
    _app_name,
    _bool,
    _integer,
    _integral,
    _matching,
    _model_url,
    _one_of,
)
from components.config.sections import MODELS_MOUNT, StorageConfig
from kernel.names import MAX_HOST, NAMESPACE, RESOURCE_PREFIX
from modelstore.detect import FORMATS as STORE_FORMATS

PREDICTION_TYPES = ("predict", "classify", "regress")
#: The format vocabulary: modelstore's, which detects them; `auto` reads the model's MLmodel file.
FORMATS = ("auto", *STORE_FORMATS)
Replicas = Annotated[int, _integer(1)]
#: The longest readiness wait a model may ask for: a day. Past that a deploy is stuck, not slow.
READY_TIMEOUT_MAX_S = 86400


def _ready_timeout(value: Any) -> int:
    """Whole seconds from 0 (do not wait) to READY_TIMEOUT_MAX_S; digits as a step input passes them."""
    allowed = f"whole seconds from 0 (do not wait) to {READY_TIMEOUT_MAX_S}"
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif _integral(value):
        number = int(value)
    else:
        raise Refusal(value, allowed)
    if not 0 <= number <= READY_TIMEOUT_MAX_S:
        raise Refusal(value, allowed)
    return number


#: A check a backend adds to every model entry: (entry, validation context) -> what it refuses.
ModelCheck = Callable[[Any, Mapping[str, Any]], list[Refusal]]
#: A warning a backend gives about an accepted entry: entry -> [(key, why)].
ModelWarning = Callable[[Any], list[tuple[str, str]]]
#: A check a backend adds to the whole stack: stack -> what it refuses (key paths from the stack's root).
StackCheck = Callable[[Any], list[Refusal]]



class Served(Settings):
    """What a model entry and a `servers` entry share: resolved requests and limits (each declares its
    own `resources` field, so that it keeps its place in the entry's key order)."""

    @property
    def requests(self) -> dict[str, str]:
        return self.resources.requests  # type: ignore[attr-defined]

    @property
    def limits(self) -> dict[str, str]:
        return self.resources.limits  # type: ignore[attr-defined]


class ModelBase(Served):
    """One served model: what names and locates it, and its checks. The stack model adds the `backend`
    choice (the registry's names), each backend's own keys, then CommonSettings, to make ModelConfig."""

    BLANK_IS_UNSET: ClassVar[bool] = True
    #: The backends' own entry checks, set on the composed class.
    CHECKS: ClassVar[tuple[ModelCheck, ...]] = ()
    #: The backends' warnings about an accepted entry, set on the composed class.
    WARNS: ClassVar[tuple[ModelWarning, ...]] = ()

    app_name: Annotated[
        str, BeforeValidator(_app_name), Required("a DNS label naming the FuseML application (required)")
    ]
    """DNS label of at most 48 chars (the operator's Helm release `ovms-<app_name>` must fit Helm's 53);
    names the `ovms-<app_name>` objects, the host and the FuseML app."""
    model: Annotated[str, BeforeValidator(_model_url), Required("the model URL (required)")]
    """`s3://`, `gs://`, `az://` (Blob) or `azfs://` (Files) URL with a bucket (OVMS reads no `azure://`),
    or an absolute local path under `/models` (the mounted `storage.models_volume_claim`)."""
    backend: str = "auto"
    """Which system serves the model (the stack model declares the choices: the registry's backends)."""
    format: Annotated[Literal[FORMATS], _one_of(FORMATS, str.lower)] = "auto"
    """The model's format; `auto` reads the MLmodel file (or the IR/ONNX files) from the store with the
    stack's credentials."""
    @property
    def storage_scheme(self) -> str:
        """The URL scheme of the model (empty for a local path)."""
        return self.model.split("://", 1)[0] if "://" in self.model else ""

    @property
    def resource_name(self) -> str:
        """The name of the ModelServer, its Service and its VirtualService."""
        return RESOURCE_PREFIX + self.app_name

    @model_validator(mode="after")
    def _as_served(self, info: ValidationInfo) -> ModelBase:
        """What the entry's fields say together, and with the stack's storage and Istio settings.

        `parse` validates those two sections first and passes them in the context, so an entry's storage
        and host are checked even when another part of the stack is wrong.
        """
        context = info.context or {}
        refused = list(_unreachable(self, context.get("storage"), context.get("secrets") or {}))
        istio = context.get("istio")
        if istio is not None and len(istio.host(self.app_name)) > MAX_HOST:
            host = istio.host(self.app_name)
            fits = f"a name short enough for its host {host[:40]}... ({len(host)} chars) to fit {MAX_HOST}"
            refused.append(Refusal(self.app_name, fits, "app_name"))
        for check in self.CHECKS:
            refused += check(self, context)
        try:
            resources = resolved_resources(self)
        except Refusal as refusal:
            refused += refusal.refusals
        raise_refusals(refused)
        return self.updated({"resources": resources})


class CommonSettings(Settings):
    """The keys of a model entry that every backend reads (or refuses by name), after each backend's own
    keys in the entry's order."""

    model_name: Annotated[
        str, _matching(re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*"), "letters, digits, '_', '.', '-'")
    ] = "default"
    """The name in the prediction API."""
    replicas: Replicas = 1
    """Server replicas (positive integer)."""
    resources: Resources = DEFAULT_RESOURCES
    """`{requests: {...}, limits: {...}}` of Kubernetes quantities; limits default to the requests (a limit
    without a request sets the request, as in Kubernetes)."""
    resources_limits: ExtraLimits = None
    """Extra limits, e.g. `{gpu.intel.com/i915: 1}` (one extended device at most: the CRD has one)."""
    prediction_type: Annotated[
        Literal["predict", "classify", "regress"], _one_of(PREDICTION_TYPES, str.lower)
    ] = "predict"
    """The verb of the v1 prediction URL."""
    adopt: Annotated[bool, BeforeValidator(_bool)] = False
    """Take over a FuseML application that another workflow or stack registered."""
    ready_timeout_s: Annotated[int, BeforeValidator(_ready_timeout)] = 600
    """Seconds `pulumi up` waits for the model to serve before it fails naming why (see "Readiness"); `0`
    does not wait: the model is registered as soon as its objects exist, and `serving` says it was not
    checked."""


class RuntimeSettings(Settings):
    """`runtime`: read by every backend that runs the model on a runtime it names (KServe, Seldon,
    ModelMesh); each lists this class among its settings, so the key is declared once."""

    runtime: Annotated[
        str | None, _matching(re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"), "a runtime name")
    ] = None
    """kserve, modelmesh: the ServingRuntime to use; seldon: the prepackaged server (e.g. TRITON_SERVER);
    unset, the one the backend picks for the format."""


class RuntimeVersionSettings(Settings):
    """`runtime_version`: the runtime image's tag, for the backends that let a model pick it."""

    runtime_version: Annotated[str | None, _matching(IMAGE_TAG, "an image tag such as 2.6.0")] = None
    """kserve, seldon: the runtime image's tag (FuseML's kserve step input); unset, the runtime's own."""


def _unreachable(
    model: ModelBase, storage: StorageConfig | None, secrets: Mapping[str, Any]
) -> Iterator[Refusal]:
    """Why a model's storage cannot be reached with what is configured (nothing when it can)."""
    if model.storage_scheme == "s3" and not all(
        secrets.get(k) is not None for k in ("aws_access_key_id", "aws_secret_access_key")
    ):
        yield Refusal(
            model.model,
            "an s3:// URL only with S3 credentials: pulumi config set --secret "
            f"{NAMESPACE}:aws_access_key_id ... and {NAMESPACE}:aws_secret_access_key ...",
            "model",
        )
    if model.storage_scheme != "" or storage is None:
        return
    claim = storage.models_volume_claim
    if not claim:
        yield Refusal(
            model.model,
            f"a local path only with storage.models_volume_claim (the PVC mounted at {MODELS_MOUNT})",
            "model",
        )
    elif not model.model.startswith(MODELS_MOUNT + "/"):
        yield Refusal(
            model.model,
            f"a local path under {MODELS_MOUNT}/, where the operator mounts storage.models_volume_claim "
            f"{claim!r}",
            "model",
        )


__all__ = ["ModelBase", "RuntimeSettings", "RuntimeVersionSettings", "Served"]
