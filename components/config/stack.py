"""The stack model, composed from the shared sections and every backend's own settings, and `parse`:
raw settings in, a validated StackConfig (or one error listing every mistake) out.

Why composed: a backend's keys (its model settings, its stack section) are declared in its own file
(components/backends/), and the registry finds the backends; so a new backend is one new file, and the
stack model, Pulumi.yaml, the README tables and the JSON Schema all learn its keys from here.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, PrivateAttr, ValidationError, create_model, model_validator
from pydantic.fields import FieldInfo

from components.config.base import Required, Settings, section, settings_in
from components.config.entries import CommonSettings, ModelBase, StackCheck
from components.config.errors import ConfigError, Refusal, raise_all, raise_refusals
from components.config.readers import _list_of, _mapping, _matching, _one_of
from components.config.sections import (
    ENVIRONMENTS,
    ClusterConfig,
    FusemlConfig,
    IstioConfig,
    StorageConfig,
)
from kernel.credentials import SECRET_KEYS
from kernel.names import DNS_LABEL, NAMESPACE

_entries = _list_of("a non-empty list of model entries (app_name, model, ...)", empty=False)


class StackBase(Settings):
    """The whole `fuseml-serving` namespace of a stack (secret keys aside: they are read as secrets)."""

    #: The backends' own stack checks, set on the composed class.
    CHECKS: ClassVar[tuple[StackCheck, ...]] = ()

    namespace: Annotated[str, _matching(DNS_LABEL, "a Kubernetes namespace name (DNS label)")] = (
        "fuseml-workloads"
    )
    """Namespace of the model servers (created in create mode, expected to exist otherwise)."""
    environment: Annotated[Literal["dev", "test", "staging", "prod"], _one_of(ENVIRONMENTS)] = "dev"
    """Environment tier labelled on every server (`fuseml-serving/environment`), read by the policy pack."""
    cluster: ClusterConfig = section()
    """Where the servers run."""
    istio: IstioConfig = section()
    """How prediction routes are exposed."""
    storage: StorageConfig = section()
    """Non-secret model storage settings."""
    fuseml: FusemlConfig = section()
    """FuseML registration."""

    _credentials: Mapping[str, Any] = PrivateAttr(default_factory=dict)
    _warnings: tuple[str, ...] = PrivateAttr(default=())

    @property
    def credentials(self) -> Mapping[str, Any]:
        """The secret keys that are set (values may be Pulumi secret Outputs)."""
        return self._credentials

    @property
    def warnings(self) -> tuple[str, ...]:
        """Accepted but discouraged settings; the program logs each one."""
        return self._warnings

    def with_credentials(self, credentials: Mapping[str, Any]) -> Any:
        """This stack with these secret values (a run's decrypted secrets, or Outputs of them)."""
        copy = self.model_copy()
        copy._credentials, copy._warnings = dict(credentials), self._warnings
        return copy

    @model_validator(mode="after")
    def _across(self) -> StackBase:
        """What only the whole stack can tell: app names unique across its models, and each backend's
        own stack checks."""
        refused: list[Refusal] = []
        seen: dict[str, int] = {}
        for i, model in enumerate(self.models):  # type: ignore[attr-defined]
            if model.app_name in seen:
                used = f"a name not already used by models[{seen[model.app_name]}]"
                refused.append(Refusal(model.app_name, used, "models", i, "app_name"))
            seen.setdefault(model.app_name, i)
        for check in self.CHECKS:
            refused += check(self)
        raise_refusals(refused)
        return self


@dataclass(frozen=True)
class Schema:
    """The models composed for one set of backends."""

    model: type[ModelBase]
    stack: type[StackBase]
    settings: dict[str, tuple[str, ...]]
    """Each backend-specific model key -> the backends that read it."""


def _fields(classes: list[type[Settings]], taken: dict[str, Any]) -> dict[str, tuple[Any, FieldInfo]]:
    """The fields of these settings classes, each key once: a key two backends read is one declaration
    (a shared mixin such as RuntimeSettings); two different declarations of one key are a bug."""
    found: dict[str, tuple[Any, FieldInfo]] = {}
    for cls in classes:
        for name, field in cls.model_fields.items():
            known = taken.get(name) or found.get(name, (None, None))[1]
            if known is not None and known is not field:
                raise TypeError(f"{cls.__qualname__} declares {name!r} again, differently")
            found[name] = (field.annotation, field)
    return found


def compose(backends: Mapping[str, Any]) -> Schema:
    """ModelConfig and StackConfig for these backends (the registry's, in its order)."""
    names = ("auto", *backends)
    model_mixins = [*(cls for backend in backends.values() for cls in backend.MODEL_SETTINGS), CommonSettings]
    specific: dict[str, list[str]] = {}
    for name, backend in backends.items():
        for cls in backend.MODEL_SETTINGS:
            for key in cls.model_fields:
                if name not in specific.setdefault(key, []):
                    specific[key].append(name)
    backend_field = FieldInfo.merge_field_infos(
        FieldInfo.from_annotated_attribute(Literal[names], "auto"),  # type: ignore[valid-type]
        description="Which system serves the model: "
        + ", ".join(f"`{n}`" for n in backends)
        + ' (see "Backends"); `auto` picks the fastest one for its format on Intel CPUs and says which and '
        "why.",
    )
    backend_field.metadata.append(_one_of(names, str.lower))
    common = ModelBase.model_fields
    fields = {"backend": (Literal[names], backend_field), **_fields(model_mixins, dict(common))}
    model = create_model("ModelConfig", __base__=ModelBase, __module__=__name__, **fields)  # type: ignore[call-overload]
    model.CHECKS = tuple(check for b in backends.values() for check in b.MODEL_CHECKS)
    model.WARNS = tuple(warn for b in backends.values() for warn in b.MODEL_WARNINGS)
    stack_mixins = [b.STACK_SETTINGS for b in backends.values() if b.STACK_SETTINGS is not None]
    stack_fields = _fields(stack_mixins, dict(StackBase.model_fields))
    models = FieldInfo.merge_field_infos(
        FieldInfo.from_annotated_attribute(list[model], Field(default_factory=list, validate_default=True)),
        description="One entry per model (see the model keys).",
    )
    models.metadata.append(BeforeValidator(_entries))
    stack = create_model(  # type: ignore[call-overload]
        "StackConfig", __base__=StackBase, __module__=__name__, **stack_fields, models=(list[model], models)
    )
    stack.CHECKS = tuple(check for b in backends.values() for check in b.STACK_CHECKS)
    return Schema(model, stack, {key: tuple(owners) for key, owners in specific.items()})


def defaults_of(schema: Schema) -> tuple[dict[str, Any], dict[str, Any], tuple[str, ...]]:
    """(stack-level defaults, model-entry defaults, required model keys), as a user would write them."""
    from components.config.base import defaults

    stack = {k: v for k, v in defaults(schema.stack).items() if k != "models"}
    required = tuple(name for name, field in schema.model.model_fields.items() if field.is_required())
    return stack, defaults(schema.model), required


# --- parse: raw settings in, a StackConfig or one error listing every mistake out -----------------------


def _key(loc: tuple[str | int, ...]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key


def _model_at(stack: type[StackBase], loc: tuple[str | int, ...]) -> type[Settings] | None:
    """The Settings class validating the object at a location (None below the model's objects)."""
    cls: type[Settings] | None = stack
    for part in loc:
        if isinstance(part, int):
            continue
        field = cls.model_fields.get(part) if cls is not None else None
        cls = settings_in(field.annotation) if field is not None else None
    return cls


def _context(loc: tuple[str | int, ...], raw: Mapping[str, Any]) -> str:
    """`app '<name>'` for a mistake inside a model entry whose app_name is a non-empty string."""
    if len(loc) < 2 or loc[0] != "models" or not isinstance(loc[1], int):
        return ""
    try:
        entry = _entries(raw.get("models"))[loc[1]]
        app_name = _mapping(entry, "").get("app_name")
    except (Refusal, IndexError):
        return ""
    return f"app {app_name!r}" if isinstance(app_name, str) and app_name else ""


def _known_keys(keys: tuple[str, ...], unknown: str) -> str:
    close = difflib.get_close_matches(unknown, keys, n=1)
    return "one of the keys " + ", ".join(keys) + (f" (did you mean {close[0]}?)" if close else "")


def config_errors(
    stack: type[StackBase], error: ValidationError, raw: Mapping[str, Any]
) -> list[ConfigError]:
    """pydantic's errors, each as a ConfigError naming the key path the user wrote."""
    found = []
    for line in error.errors(include_url=False):
        loc, kind = tuple(line["loc"]), line["type"]
        refusal = (line.get("ctx") or {}).get("error")
        if isinstance(refusal, Refusal):
            mistakes = [(loc + r.at, r.value, r.allowed) for r in refusal.refusals]
        elif kind == "extra_forbidden":
            cls = _model_at(stack, loc[:-1])
            keys = tuple(cls.model_fields) + (tuple(SECRET_KEYS) if cls is stack else ())
            mistakes = [(loc, line["input"], _known_keys(keys, str(loc[-1])))]
        elif kind == "missing":
            cls = _model_at(stack, loc[:-1])
            field = cls.model_fields[str(loc[-1])] if cls is not None else None
            marks = [m for m in (field.metadata if field else ()) if isinstance(m, Required)]
            mistakes = [(loc, None, marks[0].allowed if marks else "a value (required)")]
        else:  # a type the field readers did not cover: pydantic's own words
            mistakes = [(loc, line["input"], line["msg"])]
        found += [
            ConfigError(_key(at), value, allowed, context=_context(at, raw))
            for at, value, allowed in mistakes
        ]
    return found


def validate_stack(
    stack_model: type[StackBase],
    raw: Mapping[str, Any],
    secrets: Mapping[str, Any] | None = None,
    gcp: Mapping[str, str | None] | None = None,
) -> StackBase:
    """Validate raw stack settings (keys without the namespace) into a stack_model, or raise ConfigError.

    Every setting is checked in one pass, so one run reports every mistake of the stack: one mistake is a
    ConfigError, several a ConfigErrors listing them in order: an entry's storage and host are checked
    against the storage and istio sections whenever those are valid, and names are compared across
    entries once every entry is valid. `gcp` is the GCP provider's own config (project, region, zone):
    honoured rather than duplicated.
    """
    secrets = {k: v for k, v in (secrets or {}).items() if v is not None}
    plain = [k for k in raw if k in SECRET_KEYS]
    mistakes = [
        ConfigError(key, "<hidden>", f"a secret: pulumi config set --secret {NAMESPACE}:{key}")
        for key in plain
    ]
    context = _context_of(raw, secrets, gcp)
    stack = None
    try:
        stack = stack_model.model_validate({k: v for k, v in raw.items() if k not in plain}, context=context)
    except ValidationError as error:
        mistakes += config_errors(stack_model, error, raw)
    raise_all(mistakes)
    assert stack is not None
    stack._credentials = secrets
    stack._warnings = tuple(
        warning for i, model in enumerate(stack.models) for warning in _warnings_of(i, model)  # type: ignore[attr-defined]
    )
    return stack


def _context_of(
    raw: Mapping[str, Any], secrets: Mapping[str, Any], gcp: Mapping[str, str | None] | None
) -> dict[str, Any]:
    """What every model entry is checked against: the storage and istio sections when each is valid alone
    (a mistake in one is reported by the whole pass), the secrets and the GCP provider's config."""
    context: dict[str, Any] = {"secrets": secrets, "gcp": gcp or {}}
    for name, section_model in (("storage", StorageConfig), ("istio", IstioConfig)):
        with contextlib.suppress(ValidationError):
            context[name] = section_model.model_validate(raw.get(name))
    return context


def valid_entries(
    stack_model: type[StackBase], raw: Mapping[str, Any], secrets: Mapping[str, Any] | None = None
) -> tuple[StorageConfig | None, list[tuple[int, ModelBase]]]:
    """(the storage section if valid, the model entries that are valid on their own, with their index):
    what can still be planned when another part of the stack is wrong, so its mistakes are reported in the
    same run."""
    secrets = {k: v for k, v in (secrets or {}).items() if v is not None}
    context = _context_of(raw, secrets, None)
    model = stack_model.model_fields["models"].annotation.__args__[0]  # list[ModelConfig]
    try:
        entries = _entries(raw.get("models"))
    except Refusal:
        return context.get("storage"), []
    found = []
    for i, entry in enumerate(entries):
        with contextlib.suppress(ValidationError, Refusal):
            found.append((i, model.model_validate(entry, context=context)))
    return context.get("storage"), found


def _warnings_of(i: int, model: ModelBase) -> list[str]:
    return [
        f"{NAMESPACE}:models[{i}].{key} (app {model.app_name!r}): {why}"
        for warn in model.WARNS
        for key, why in warn(model)
    ]
