"""Property: any stack either plans cleanly (with CRD-valid objects) or fails with one ConfigError.

The error lists every mistake (ConfigErrors), each line naming its key and what is allowed; nothing else
is ever raised.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from components.config import NAMESPACE, ConfigError, parse, printable
from offline.plan import engine_config, plan
from offline.schemas import validate

TEXT = st.text(max_size=12)
NUMBERS = st.one_of(st.integers(-3, 64), st.floats(allow_nan=True, allow_infinity=True), st.booleans())
JUNK = st.one_of(
    st.none(), TEXT, NUMBERS, st.lists(st.integers(), max_size=3), st.dictionaries(TEXT, TEXT, max_size=2)
)

DIM = st.one_of(st.integers(1, 512).map(str), st.just("-1"), st.just("1:8"))
TUPLE = st.lists(DIM, min_size=1, max_size=4).map(lambda dims: "(" + ",".join(dims) + ")")
LAYOUT = st.sampled_from(["NHWC", "NCHW", "NCHW:NHWC", "N...", "NC?"])
QUANTITY = st.one_of(
    st.sampled_from(["500m", "1", "2", "1Gi", "512Mi", "1.5", "512", "0"]), st.integers(1, 8)
)


def mostly(valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any] = JUNK) -> st.SearchStrategy[Any]:
    """Valid values four times in five, so that examples reach past the first setting to the others."""
    # (one_of with the same strategy repeated does not weight it, so draw the choice explicitly)
    return st.integers(0, 4).flatmap(lambda choice: valid if choice < 4 else invalid)


VALUES: dict[str, st.SearchStrategy[Any]] = {
    "app_name": mostly(st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True), TEXT),
    "model": mostly(
        st.sampled_from(["gs://bucket/model", "s3://bucket/m", "az://c/m", "azfs://s/m", "/models/m"]),
        st.sampled_from(["azure://c/m", "/data/m", "http://x/m"]),
    ),
    "format": mostly(
        st.sampled_from(["openvino", "onnx", "sklearn", "tensorflow", "mlflow"]),
        st.sampled_from(["pickle", 3]),
    ),
    "backend": mostly(st.sampled_from(["auto", "ovms", "kserve", "seldon", "modelmesh"]), st.just("triton")),
    "model_name": mostly(st.sampled_from(["default", "resnet", "m-1"]), TEXT),
    "ovms_image_tag": mostly(
        st.sampled_from(["2024.0", "2023.3", "2022.1-gpu", "2026.2"]),
        st.sampled_from(["latest", "a b", "2026.3"]),
    ),
    "loglevel": mostly(st.sampled_from(["INFO", "debug", "TRACE"]), st.sampled_from(["LOUD", ""])),
    "nireq": mostly(
        st.one_of(st.integers(1, 64), st.integers(1, 9).map(str), st.just(4.0)), st.integers(-2, 0)
    ),
    "plugin_config": mostly(
        st.one_of(
            st.dictionaries(
                st.sampled_from(["NUM_STREAMS", "PERFORMANCE_HINT"]), st.one_of(TEXT, st.integers())
            ),
            st.dictionaries(TEXT, TEXT, max_size=2).map(json.dumps),
        )
    ),
    "batch_size": mostly(
        st.one_of(st.integers(1, 64), st.sampled_from(["auto", "-1", "1:8"])), st.integers(-3, 0)
    ),
    "shape": mostly(
        st.one_of(TUPLE, st.just("auto"), st.dictionaries(st.sampled_from(["in1", "in2"]), TUPLE, min_size=1))
    ),
    "target_device": mostly(
        st.sampled_from(["CPU", "GPU", "MULTI:GPU,CPU", "HETERO:GPU,CPU", "AUTO"]),
        st.sampled_from(["MULTI:", "TPU"]),
    ),
    "layout": mostly(st.one_of(LAYOUT, st.dictionaries(st.sampled_from(["in1"]), LAYOUT, min_size=1))),
    "model_version_policy": mostly(
        st.sampled_from([{"all": {}}, {"latest": {"num_versions": 2}}, {"specific": {"versions": [1, 3]}}]),
        st.one_of(st.dictionaries(st.sampled_from(["all", "latest", "specific"]), JUNK, max_size=2), JUNK),
    ),
    "replicas": mostly(st.integers(1, 5), st.integers(-1, 0)),
    "resources": mostly(
        st.fixed_dictionaries(
            {},
            optional={
                "requests": st.dictionaries(st.sampled_from(["cpu", "memory"]), QUANTITY),
                "limits": st.dictionaries(st.sampled_from(["cpu", "memory"]), QUANTITY),
            },
        )
    ),
    "resources_limits": mostly(st.dictionaries(st.sampled_from(["cpu", "gpu.intel.com/i915"]), QUANTITY)),
    "prediction_type": mostly(st.sampled_from(["predict", "classify", "regress"]), st.just("explain")),
    "adopt": mostly(st.booleans()),
}

#: Every entry names its format: `auto` would read the store, which a property test has none of.
REQUIRED = ("app_name", "model", "format")
ENTRIES = st.fixed_dictionaries(
    {key: VALUES[key] for key in REQUIRED},
    optional={key: strategy for key, strategy in VALUES.items() if key not in REQUIRED},
)

BASE = {
    "istio": {"domain": "example.nip.io"},
    "fuseml": {"register": False},
    "storage": {"models_volume_claim": "models"},
}
#: Stack-level settings drawn too, so that mistakes in several places meet in one example.
TOP = st.fixed_dictionaries(
    {},
    optional={
        "namespace": mostly(
            st.sampled_from(["serving", "fuseml-workloads"]), st.sampled_from(["Bad_NS", ""])
        ),
        "environment": mostly(st.sampled_from(["dev", "prod"]), st.just("qa")),
        "operator": mostly(
            st.fixed_dictionaries({}, optional={"install": st.sampled_from([True, "no", "off"])})
        ),
        "istio": mostly(
            st.fixed_dictionaries(
                {"domain": mostly(st.sampled_from(["example.nip.io", "d" * 60 + ".io"]), TEXT)},
                optional={
                    "host_prefix": mostly(st.just("ovms"), TEXT),
                    "gateway": mostly(st.just("a/b"), TEXT),
                },
            )
        ),
        "storage": mostly(st.fixed_dictionaries({"models_volume_claim": mostly(st.just("models"), JUNK)})),
        "cluster": mostly(
            st.fixed_dictionaries(
                {},
                optional={
                    "mode": mostly(st.sampled_from(["existing", "create"])),
                    "node_pool": mostly(
                        st.fixed_dictionaries(
                            {
                                "min_nodes": mostly(st.just(1), NUMBERS),
                                "max_nodes": mostly(st.just(3), NUMBERS),
                            }
                        )
                    ),
                },
            )
        ),
    },
)
SECRETS = {"aws_access_key_id": "id", "aws_secret_access_key": "key"}


def reported(raw: dict[str, Any]) -> set[str]:
    """The lines of the error a stack is refused with (none when it parses)."""
    try:
        parse(raw, SECRETS)
    except ConfigError as error:
        return {str(each) for each in error.errors}
    return set()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=st.lists(ENTRIES, min_size=1, max_size=3, unique_by=lambda entry: str(entry["app_name"])),
    top=TOP,
)
def test_random_stacks_plan_or_fail_with_one_error_listing_every_mistake(
    entries: list[dict[str, Any]], top: dict[str, Any]
) -> None:
    raw = {**BASE, **top, "models": entries}
    # Every mistake, not just some: what an entry or the stack-level settings get refused for on their
    # own is refused, under the same key, when they meet in one stack.
    alone = reported({**raw, "models": [{"app_name": "valid", "model": "gs://b/m"}]})
    for i, entry in enumerate(entries):
        prefix = f"{NAMESPACE}:models["
        alone |= {
            line.replace(f"{prefix}0]", f"{prefix}{i}]", 1) for line in reported({**raw, "models": [entry]})
        }
    assert alone <= reported(raw)
    try:
        parse(raw, SECRETS)
    except ConfigError as error:
        # One error, or one listing every mistake: each line names its key and what is allowed.
        errors = error.errors
        lines = str(error).splitlines()
        assert len(lines) == len(errors) >= 1
        for line, each in zip(lines, errors, strict=True):
            # Keys are shown with unprintable characters escaped, so no mistake spans two lines.
            assert line.startswith(f"fuseml-serving:{printable(each.key)}") and "; allowed: " in line, line
        event(f"refused: {len(errors)} mistake(s), first {error.key.split('.')[-1]}")
        return
    config = engine_config({**raw, **SECRETS})
    try:
        result = plan(config, secret_keys=[f"fuseml-serving:{k}" for k in SECRETS])
    except ConfigError as error:
        # What only the backends can tell (a format or a setting one backend does not take): the same shape.
        assert all(
            line.startswith("fuseml-serving:models[") and "; allowed: " in line
            for line in str(error).splitlines()
        )
        event(f"refused by the backends: {len(error.errors)} mistake(s)")
        return
    event("planned")
    for resource in result.resources:
        if resource.kubernetes_object:
            assert validate(resource.inputs) == [], resource.inputs
    assert len(result.outputs["prediction_urls"]) == len(entries)
