"""Planning: which backend serves each model, in which format, and why; refused, naming the key, when no
backend can serve it as asked.

Why apart from the shape of a backend (components/serving.py): planning runs before any resource exists,
for `pulumi up`, the step and the review alike, and reads only the backends' class facts (their formats,
schemes, settings and `auto` rank), never their resources.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from components.config.entries import FORMATS
from components.config.errors import ConfigError, raise_all
from components.config.sections import StorageConfig
from components.serving import Backend, Plan
from kernel.names import MAX_HOST, NAMESPACE, RESOURCE_PREFIX, is_host

if TYPE_CHECKING:
    from components.config import ModelConfig, StackConfig


#: Reads a model folder's format: url -> (format, evidence); raises modelstore's StoreError. A detector
#: that also has `many(urls)` (url -> (format, evidence) or StoreError) is asked for every model at once.
Detect = Callable[[str], tuple[str, str]]
#: What detection answered for one model folder: (format, evidence), or why it could not tell.
Answer = tuple[str, str] | Exception


class StoreDetector:
    """Reads models' formats from their stores (modelstore) with these plain credentials and the stack's
    storage settings: the one reading that `pulumi up` and the workflow step share. `many` reads every
    folder at once, concurrently, one client per store, each store within storage.read_timeout_s."""

    def __init__(self, storage: StorageConfig, credentials: Mapping[str, str]) -> None:
        from modelstore.stores import StoreSettings

        self.settings = StoreSettings(
            dict(credentials), storage.s3_endpoint, storage.aws_region, storage.read_timeout_s
        )

    def __call__(self, url: str) -> tuple[str, str]:
        answer = self.many([url])[url]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def many(self, urls: list[str]) -> dict[str, Answer]:
        from modelstore.many import detect_many

        found = detect_many(urls, self.settings)
        return {
            url: got if isinstance(got, Exception) else (got.format, got.evidence)
            for url, got in found.items()
        }


def store_detector(storage: StorageConfig, credentials: Mapping[str, str]) -> Detect:
    """The detector of a stack's stores (StoreDetector)."""
    return StoreDetector(storage, credentials)


def plans(cfg: StackConfig, backends: Mapping[str, type[Backend]], detect: Detect) -> dict[str, Plan]:
    """The plan of every model, or one ConfigError listing every model that cannot be served as asked.

    `format: auto` is read from the store (`detect`) only where it decides something: a model on a backend
    that reads the folder itself (OVMS: `backend: ovms`, a shared server, or `auto` with settings only OVMS
    reads) needs none. Backend-specific settings given for another backend are refused, naming both.
    """
    found: dict[str, Plan] = {}
    mistakes: list[ConfigError] = []
    wanted = [model.model for model in cfg.models if needs_detection(model, backends)]
    answers = _detect_all(detect, wanted)
    mistakes += _store_failures(cfg, answers)

    def known(url: str) -> tuple[str, str]:
        got = answers[url]
        if isinstance(got, Exception):
            raise got
        return got

    for i, model in enumerate(cfg.models):
        answer = answers.get(model.model)
        if isinstance(answer, Exception) and getattr(answer, "store", None) is not None:
            continue  # reported once for its store above
        try:
            found[model.app_name] = plan_entry(i, model, backends, known)
        except ConfigError as error:
            mistakes += error.errors
    names: dict[str, str] = {
        f"{RESOURCE_PREFIX}{server.name}": f"servers entry {server.name}"
        for server in getattr(cfg, "servers", ())
    }
    for i, model in enumerate(cfg.models):
        if model.app_name not in found or getattr(model, "server", None) is not None:
            continue
        name = backends[found[model.app_name].backend].name_of(model)
        if name in names:
            clash = f"a name whose objects do not clash: {names[name]} already names its objects {name}"
            mistakes.append(
                ConfigError(f"models[{i}].app_name", model.app_name, clash, context=f"app {model.app_name!r}")
            )
        names.setdefault(name, f"models[{i}] ({model.app_name})")
    mistakes += _hosts(cfg, found, backends)
    raise_all(mistakes)
    return found


def _hosts(
    cfg: StackConfig, found: Mapping[str, Plan], backends: Mapping[str, type[Backend]]
) -> list[ConfigError]:
    """Every host a backend derives, checked against RFC 1123 (253 chars, 63 a label) before anything
    exists: KServe's `<app>.<namespace>.<domain>`, Seldon's `<app>.<seldon.host_prefix>.<domain>`, a shared
    server's `<server>.<host_prefix>.<domain>` (the config checks `<app>.<host_prefix>.<domain>` itself)."""
    mistakes: list[ConfigError] = []
    servers = {server.name: j for j, server in enumerate(getattr(cfg, "servers", ()))}
    told: set[str] = set()
    for i, model in enumerate(cfg.models):
        plan = found.get(model.app_name)
        if plan is None:
            continue
        host = backends[plan.backend].urls(cfg, model, plan).host
        if host == cfg.istio.host(model.app_name) or is_host(host) or host in told:
            continue
        told.add(host)
        server = getattr(model, "server", None)
        key, value = (
            (f"servers[{servers[server]}].name", server)
            if server in servers
            else (f"models[{i}].app_name", model.app_name)
        )
        fits = f"a name short enough for its host {host[:40]}... ({len(host)} chars) to fit {MAX_HOST}"
        mistakes.append(ConfigError(key, value, fits, context="" if server else f"app {model.app_name!r}"))
    return mistakes


def needs_detection(model: ModelConfig, backends: Mapping[str, type[Backend]]) -> bool:
    """Whether planning this model reads its format from the store: `format: auto`, unless the model goes
    to a backend that reads the folder itself (OVMS: `backend: ovms`, or `auto` with OVMS-only settings)."""
    return model.format == "auto" and _claimant(model, backends)[0] != "ovms" and model.backend != "ovms"


def _claimant(
    model: ModelConfig, backends: Mapping[str, type[Backend]]
) -> tuple[str | None, dict[str, list[str]]]:
    """The backend whose own settings the entry sets (for `backend: auto`), and each backend's keys set."""
    given = model.model_fields_set
    claimed = {name: [key for key in cls.AUTO_KEYS if key in given] for name, cls in backends.items()}
    claimant = next((name for name, keys in claimed.items() if keys), None)
    return (claimant if model.backend == "auto" else None), claimed


def _detect_all(detect: Detect, urls: list[str]) -> dict[str, Answer]:
    """Every wanted folder's answer: at once when the detector can (`many`), else one by one."""
    from modelstore.errors import StoreError

    urls = list(dict.fromkeys(urls))
    many = getattr(detect, "many", None)
    if many is not None and urls:
        return dict(many(urls))
    answers: dict[str, Answer] = {}
    for url in urls:
        try:
            answers[url] = detect(url)
        except StoreError as err:
            answers[url] = err
    return answers


def _store_failures(cfg: StackConfig, answers: Mapping[str, Answer]) -> list[ConfigError]:
    """One mistake per store that failed as a whole, naming every model it leaves unplanned by key.

    Why one line per store, not per model: 2,000 models on an unreachable store are one mistake with one
    fix; the key lists each model's index (`models[0-3,7].format`), so every model is still named.
    """
    from modelstore.errors import StoreError

    failed: dict[int, tuple[StoreError, list[int]]] = {}
    for i, model in enumerate(cfg.models):
        answer = answers.get(model.model)
        if isinstance(answer, StoreError) and answer.store is not None:
            failed.setdefault(id(answer), (answer, []))[1].append(i)
    mistakes = []
    for error, indexes in failed.values():
        store = error.store
        if len(indexes) == 1:
            key, context = f"models[{indexes[0]}].format", f"app {cfg.models[indexes[0]].app_name!r}"
        else:
            key, context = f"models[{_ranges(indexes)}].format", f"{len(indexes)} models on {store}"
        slow = "; or a longer storage.read_timeout_s if the store is only slow" if error.timed_out else ""
        which = "" if len(indexes) == 1 else " on each of these models"
        allowed = (
            f"a format (one of {', '.join(FORMATS[1:])}){which}: the store could not be read to detect it "
            f"({error}{slow})"
        )
        mistakes.append(ConfigError(key, "auto", allowed, context=context))
    return mistakes


def _ranges(indexes: list[int]) -> str:
    """`0-3,7` for [0, 1, 2, 3, 7]."""
    runs: list[list[int]] = []
    for i in sorted(indexes):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}-{b}" if b > a else f"{a}" for a, b in runs)


def _auto_order(backends: Mapping[str, type[Backend]]) -> list[str]:
    """Where `backend: auto` looks for a format's backend: OpenVINO Model Server for what it serves (IR and
    ONNX run fastest on Intel CPUs there), then KServe for everything else (each backend's AUTO_RANK)."""
    ranked = [(cls.AUTO_RANK, name) for name, cls in backends.items() if cls.AUTO_RANK is not None]
    return [name for _, name in sorted(ranked)]


def plan_entry(i: int, model: ModelConfig, backends: Mapping[str, type[Backend]], detect: Detect) -> Plan:
    def refuse(key: str, value: Any, allowed: str) -> ConfigError:
        return ConfigError(f"models[{i}].{key}", value, allowed, context=f"app {model.app_name!r}")

    fmt, evidence = model.format, "format set in the stack"
    # Settings only one backend reads say which backend is meant (OVMS's: it reads the folder itself).
    claimant, claimed = _claimant(model, backends)
    if needs_detection(model, backends):
        from modelstore.errors import StoreError

        try:
            fmt, evidence = detect(model.model)
        except StoreError as err:
            raise refuse(
                "format",
                "auto",
                f"a format (one of {', '.join(FORMATS[1:])}): the model's MLmodel could not be read to "
                f"detect it ({err})",
            ) from None
    order = _auto_order(backends)
    backend = model.backend if model.backend != "auto" else claimant
    if claimant is not None:
        why = (
            f"{claimant}: the entry sets {', '.join(claimed[claimant])}, which only "
            f"{backends[claimant].PRODUCT} reads"
        )
    elif backend is None:
        backend = next((b for b in order if fmt in backends[b].FORMATS), None)
        if backend is None:
            raise refuse("format", fmt, f"a format one of {', '.join(order)} serves")
        why = f"{fmt} ({evidence}): {backend} is the fastest backend here that serves {fmt} on Intel CPUs"
    else:
        why = f"backend {backend} set in the stack; format {fmt} ({evidence})"
    chosen = backends[backend]
    mistakes = []
    if fmt != "auto" and fmt not in chosen.FORMATS:
        others = [b for b, cls in backends.items() if fmt in cls.FORMATS]
        mistakes.append(
            refuse(
                "format",
                fmt,
                f"a format backend {backend} serves ({', '.join(chosen.FORMATS)}); {fmt} is served by "
                f"{', '.join(others) or 'none of the backends'}",
            )
        )
    if model.storage_scheme not in chosen.SCHEMES:
        schemes = ", ".join(f"{s}://" if s else "a path on the models claim" for s in chosen.SCHEMES)
        mistakes.append(refuse("model", model.model, f"a model URL backend {backend} reads: {schemes}"))
    own = chosen.settings()
    for key in specific_settings(backends):
        if key in model.model_fields_set and key not in own:
            owners = [b for b, cls in backends.items() if key in cls.settings()]
            mistakes.append(
                refuse(
                    key,
                    getattr(model, key),
                    f"nothing with backend {backend}: {key} is a setting of the {' and '.join(owners)} "
                    "backend" + ("s" if len(owners) > 1 else ""),
                )
            )
    runtime = getattr(model, "runtime", None) or chosen.FORMATS.get(fmt) or chosen.NAME
    plan = Plan(backend, fmt, why, runtime)
    if not mistakes:
        mistakes += [refuse(key, value, allowed) for key, value, allowed in chosen.refusals(model, plan)]
    raise_all(mistakes)
    return plan


def specific_settings(backends: Mapping[str, type[Backend]]) -> tuple[str, ...]:
    """The model keys that belong to some backends only, in the backends' order."""
    return tuple(dict.fromkeys(key for cls in backends.values() for key in cls.settings()))


def notices(
    cfg: StackConfig, planned: Mapping[str, Plan], backends: Mapping[str, type[Backend]]
) -> list[str]:
    """One line per backend in use that upstream no longer moves forward, naming its models and saying
    what that means."""
    apps: dict[str, list[str]] = {}
    for model in cfg.models:
        apps.setdefault(planned[model.app_name].backend, []).append(model.app_name)
    lines = [
        f"{NAMESPACE}: backend {backend} ({', '.join(names)}): {backends[backend].UPSTREAM.status}"
        for backend, names in apps.items()
        if not backends[backend].UPSTREAM.maintained
    ]
    lines += [line for backend in backends.values() for line in backend.stack_notices(cfg, planned)]
    return lines
