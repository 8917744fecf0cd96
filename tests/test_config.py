"""Stack config validation: defaults, conversions to CRD types, and every bad input with its message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.backends.ovms import ModelServer
from components.backends.ovms import spec as ovms_spec
from components.config import (
    DEFAULTS,
    MODEL_DEFAULTS,
    ConfigError,
    ConfigErrors,
    ModelConfig,
    StackConfig,
    parse,
)
from components.serving import Plan, Urls

DOMAIN = "example.nip.io"


def raw(*models: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A minimal valid stack config with these model entries."""
    entries = list(models) or [{"app_name": "resnet", "model": "gs://bucket/resnet"}]
    return {"istio": {"domain": DOMAIN}, "fuseml": {"register": False}, "models": entries, **top}


def model(**overrides: Any) -> dict[str, Any]:
    return {"app_name": "resnet", "model": "gs://bucket/resnet", **overrides}


def leaves(value: Any) -> list[Any]:
    """Every value inside a nested value (the message may name the innermost offending one)."""
    if isinstance(value, dict):
        return [value, *(leaf for v in value.values() for leaf in leaves(v))]
    return [value]


def ovms_urls(cfg: StackConfig, m: ModelConfig) -> Urls:
    """Where a model on its own OVMS answers (the URLs the program registers and exports)."""
    return ModelServer.urls(cfg, m, Plan("ovms", "auto", "", "ovms"))


def error(config: dict[str, Any], secrets: dict[str, Any] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(config, secrets)
    return str(caught.value)


def test_defaults_apply_once_and_in_crd_types() -> None:
    cfg = parse(raw())
    (m,) = cfg.models
    assert cfg.namespace == DEFAULTS["namespace"]
    assert cfg.cluster.mode == "existing" and cfg.cluster.node_pool.node_count == 2
    assert cfg.cluster.node_pool.machine_type == "n2-standard-4"
    assert cfg.cluster.node_pool.min_cpu_platform == "Intel Cascade Lake"
    assert (m.model_name, m.ovms_image_tag, m.target_device) == (
        "default",
        MODEL_DEFAULTS["ovms_image_tag"],
        "CPU",
    )
    assert m.requests == {"cpu": "1", "memory": "1Gi"} and m.limits == m.requests
    assert ovms_urls(cfg, m).prediction == f"http://resnet.ovms.{DOMAIN}/v1/models/default:predict"


def test_fuseml_step_strings_are_accepted() -> None:
    """FuseML hands every step input over as a string; "" means unset."""
    (m,) = parse(
        raw(
            model(
                nireq="4",
                replicas="2",
                batch_size="auto",
                resources='{"requests": {"cpu": 1}}',
                resources_limits="{nvidia.com/gpu: 1}",
                plugin_config='{"CPU_THROUGHPUT_STREAMS":"1"}',
                model_version_policy='{"latest": { "num_versions":1 }}',
                shape="{in1:(1,3,224,224),in2:(1,3,50,50)}",
                layout="",
                loglevel="debug",
                prediction_type="Classify",
                adopt="false",
            )
        )
    ).models
    assert (m.nireq, m.replicas, m.batch_size, m.layout, m.loglevel) == (4, 2, "auto", None, "DEBUG")
    assert m.requests == {"cpu": "1", "memory": "1Gi"}
    assert m.limits == {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}
    assert json.loads(m.plugin_config) == {"CPU_THROUGHPUT_STREAMS": "1"}
    assert json.loads(m.model_version_policy) == {"latest": {"num_versions": 1}}
    assert json.loads(m.shape) == {"in1": "(1,3,224,224)", "in2": "(1,3,50,50)"}
    assert m.prediction_type == "classify" and m.adopt is False


#: The ModelServer settings an accepted entry gives (what `pulumi up` writes into the CR): a value in the
#: CRD's types (JSON text for objects, a string for batch_size and shape), the device word upper-cased,
#: the storage type the operator reads for the URL's scheme (intel.com_model_servers.yaml: "google",
#: "S3", "azure").
ACCEPTED = [
    ({"shape": "(1,3,224,224)"}, {"models_settings": {"shape": "(1,3,224,224)"}}),
    ({"shape": "auto"}, {"models_settings": {"shape": "auto"}}),
    (
        {"shape": {"in1": "(1,3,224,224)", "in2": "(1, 3, 50, 50)"}},
        {"models_settings": {"shape": '{"in1":"(1,3,224,224)","in2":"(1,3,50,50)"}'}},
    ),
    ({"layout": "NCHW:NHWC"}, {"models_settings": {"layout": "NCHW:NHWC"}}),
    ({"layout": {"input": "NHWC"}}, {"models_settings": {"layout": '{"input":"NHWC"}'}}),
    ({"target_device": "MULTI:NPU,CPU"}, {"models_settings": {"target_device": "MULTI:NPU,CPU"}}),
    (
        {"target_device": "hetero:GPU,CPU", "ovms_image_tag": "2024.0-gpu"},
        {
            "models_settings": {"target_device": "HETERO:GPU,CPU"},
            "image_name": "openvino/model_server:2024.0-gpu",
        },
    ),
    (
        {"target_device": "AUTO:GPU.0,CPU", "ovms_image_tag": "2025.1-gpu"},
        {
            "models_settings": {"target_device": "AUTO:GPU.0,CPU"},
            "image_name": "openvino/model_server:2025.1-gpu",
        },
    ),
    (
        {"target_device": "GPU.1", "ovms_image_tag": "2026.2-gpu"},
        {"models_settings": {"target_device": "GPU.1"}, "image_name": "openvino/model_server:2026.2-gpu"},
    ),
    ({"target_device": "AUTO"}, {"models_settings": {"target_device": "AUTO"}}),
    ({"batch_size": -1}, {"models_settings": {"batch_size": "-1"}}),
    ({"batch_size": "1:8"}, {"models_settings": {"batch_size": "1:8"}}),
    ({"batch_size": 16}, {"models_settings": {"batch_size": "16"}}),
    (
        {"model_version_policy": {"specific": {"versions": [1, 3]}}},
        {"models_settings": {"model_version_policy": '{"specific":{"versions":[1,3]}}'}},
    ),
    ({"model_version_policy": {"all": {}}}, {"models_settings": {"model_version_policy": '{"all":{}}'}}),
    (
        {"model": "azfs://share/model"},
        {
            "models_settings": {"model_path": "azfs://share/model"},
            "models_repository": {"storage_type": "azure"},
        },
    ),
    (
        {"model": "az://container/model"},
        {
            "models_settings": {"model_path": "az://container/model"},
            "models_repository": {"storage_type": "azure"},
        },
    ),
    (
        {"model": "s3://bucket/model"},
        {
            "models_settings": {"model_path": "s3://bucket/model"},
            "models_repository": {
                "storage_type": "S3",
                "aws_access_key_id": "id",
                "aws_secret_access_key": "key",
            },
        },
    ),
]


def held_in(spec: dict[str, Any], expected: dict[str, Any], path: str = "spec") -> list[str]:
    """Where `spec` differs from what `expected` names (fields it does not name are not compared)."""
    if not isinstance(expected, dict):
        return [] if spec == expected else [f"{path}: {spec!r} != {expected!r}"]
    if not isinstance(spec, dict):
        return [f"{path}: {spec!r} is not an object"]
    return [d for k, v in expected.items() for d in held_in(spec.get(k), v, f"{path}.{k}")]


@pytest.mark.parametrize(("entry", "used"), ACCEPTED)
def test_accepted_forms(entry: dict[str, Any], used: dict[str, Any]) -> None:
    """Each accepted form reaches the ModelServer the program writes as the value OVMS is given."""
    secrets = {"aws_access_key_id": "id", "aws_secret_access_key": "key"}
    cfg = parse(raw(model(**entry)), secrets)
    (m,) = cfg.models
    written = ovms_spec(m, cfg.storage, secrets, None)
    assert held_in(written, used) == []
    # Nothing else changed: every setting the entry does not set is the default's.
    default = ovms_spec(parse(raw(model()), secrets).models[0], cfg.storage, secrets, None)
    for section in ("models_settings", "models_repository"):
        others = {k: v for k, v in written[section].items() if k not in used.get(section, {})}
        assert others == {k: v for k, v in default[section].items() if k not in used.get(section, {})}


BAD_MODELS = [
    # (entry, key named in the message, text of what is allowed)
    ({"app_name": None}, "models[0].app_name", "required"),
    ({"model": ""}, "models[0].model", "the model URL (required)"),
    ({"model": "http://host/model"}, "models[0].model", "s3://, gs://, az:// or azfs://"),
    ({"model": "models/resnet"}, "models[0].model", "absolute local path"),
    ({"model": "gs://"}, "models[0].model", "with a bucket"),
    ({"nireq": 0}, "models[0].nireq", "a positive integer"),
    ({"nireq": "four"}, "models[0].nireq", "a positive integer"),
    ({"nireq": 1.5}, "models[0].nireq", "a positive integer"),
    ({"nireq": True}, "models[0].nireq", "a positive integer"),
    ({"batch_size": "huge"}, "models[0].batch_size", "a positive integer, -1 (any batch), a range like 1:8"),
    ({"shape": "(1,3,a,224)"}, "models[0].shape", "a tuple like (1,3,224,224)"),
    ({"shape": "1,3,224,224"}, "models[0].shape", "'auto'"),
    ({"shape": {"in1": "square"}}, "models[0].shape", "a map of input names to tuples"),
    ({"layout": "NHWCX"}, "models[0].layout", "a layout like NHWC or NCHW:NHWC"),
    ({"layout": "N:C:H"}, "models[0].layout", "a layout like NHWC"),
    (
        {"target_device": "TPU"},
        "models[0].target_device",
        "one of CPU, GPU, NPU or GPU.<n>, or AUTO, MULTI, HETERO",
    ),
    ({"target_device": "MULTI:"}, "models[0].target_device", "followed by ':' and a comma list"),
    ({"target_device": "MULTI:TPU,CPU"}, "models[0].target_device", "followed by ':' and a comma list"),
    ({"plugin_config": "[1, 2]"}, "models[0].plugin_config", "a JSON object"),
    ({"plugin_config": "{not json"}, "models[0].plugin_config", "a JSON object"),
    ({"plugin_config": {"NUM_STREAMS": [1]}}, "models[0].plugin_config", "a JSON object"),
    ({"model_version_policy": {"newest": {}}}, "models[0].model_version_policy", '{"all": {}}'),
    # Once a crash: a bare number where the versions object belongs.
    ({"model_version_policy": {"specific": 5}}, "models[0].model_version_policy", '{"specific": {"versions"'),
    ({"model_version_policy": {"latest": {"num_versions": 0}}}, "models[0].model_version_policy", "latest"),
    (
        {"model_version_policy": '{"specific": {"versions": []}}'},
        "models[0].model_version_policy",
        "specific",
    ),
    (
        {"model_version_policy": {"all": {}, "latest": {"num_versions": 1}}},
        "models[0].model_version_policy",
        "specific",
    ),
    ({"prediction_type": "explain"}, "models[0].prediction_type", "one of predict, classify, regress"),
    (
        {"resources": {"requests": {"cpu": "fast"}}},
        "models[0].resources.requests.cpu",
        "a Kubernetes quantity",
    ),
    (
        {"resources": {"limits": {"memory": "-1Gi"}}},
        "models[0].resources.limits.memory",
        "a Kubernetes quantity",
    ),
    ({"resources": "[1]"}, "models[0].resources", "an object {requests"),
    ({"resources": {"request": {}}}, "models[0].resources.request", "one of the keys requests, limits"),
    (
        {"resources_limits": {"gpu.intel.com/i915": "0.5"}},
        "models[0].resources_limits.gpu.intel.com/i915",
        "whole",
    ),
    (
        {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}},
        "models[0].resources.limits.cpu",
        "at least the request (2)",
    ),
    ({"app_name": "ResNet"}, "models[0].app_name", "lowercase letters, digits and '-'"),
    ({"app_name": "resnet_50"}, "models[0].app_name", "lowercase letters"),
    ({"app_name": "-resnet"}, "models[0].app_name", "starting and ending alphanumeric"),
    ({"app_name": "a" * 49}, "models[0].app_name", "at most 48 chars"),
    ({"ovms_image_tag": "latest"}, "models[0].ovms_image_tag", "a pinned image tag"),
    ({"ovms_image_tag": "Latest"}, "models[0].ovms_image_tag", "not latest"),
    ({"ovms_image_tag": "2024.0 beta"}, "models[0].ovms_image_tag", "a pinned image tag"),
    ({"replicas": 0}, "models[0].replicas", "a positive integer"),
    ({"loglevel": "LOUD"}, "models[0].loglevel", "one of TRACE, DEBUG, INFO, WARNING, ERROR"),
    ({"adopt": "maybe"}, "models[0].adopt", "true or false"),
    ({"nirq": 4}, "models[0].nirq", "one of the keys app_name, model"),
]


@pytest.mark.parametrize(("entry", "key", "allowed"), BAD_MODELS, ids=[k + ":" + a for _, k, a in BAD_MODELS])
def test_bad_model_entry_names_model_key_value_and_allowed(
    entry: dict[str, Any], key: str, allowed: str
) -> None:
    message = error(raw(model(**entry)))
    assert message.startswith(f"fuseml-serving:{key}")
    assert allowed in message
    value = next(iter(entry.values()))
    shown = {"got nothing" if value is None else f"got {value!r}"[:100]} | {
        f"got {v!r}" for v in leaves(value)
    }
    assert any(s in message for s in shown) or value == ""
    if "app_name" not in entry:
        assert "(app 'resnet')" in message


def test_s3_model_without_credentials_is_refused() -> None:
    message = error(raw(model(model="s3://mlflow-artifacts/1/model")))
    assert "fuseml-serving:models[0].model (app 'resnet')" in message
    assert "S3 credentials" in message and "pulumi config set --secret" in message
    # Both keys are needed: one alone is still refused.
    assert "S3 credentials" in error(raw(model(model="s3://b/m")), {"aws_access_key_id": "id"})


def test_local_path_needs_a_volume_claim() -> None:
    assert "storage.models_volume_claim" in error(raw(model(model="/models/resnet")))
    cfg = parse(raw(model(model="/models/resnet"), storage={"models_volume_claim": "models"}))
    assert cfg.models[0].storage_scheme == ""


def test_duplicate_app_names_are_refused() -> None:
    message = error(raw(model(), model(model="gs://bucket/other")))
    assert message.startswith("fuseml-serving:models[1].app_name (app 'resnet'): got 'resnet'")
    assert "not already used by models[0]" in message


@pytest.mark.parametrize(
    ("config", "key", "allowed"),
    [
        ({"models": []}, "models", "a non-empty list"),
        ({"istio": {}}, "istio.domain", "the DNS domain of the Istio ingress"),
        ({"istio": {"domain": "Not A Domain"}}, "istio.domain", "DNS domain"),
        ({"istio": {"domain": DOMAIN, "gateway": "a/b/c"}}, "istio.gateway", "<namespace>/<name>"),
        ({"istio": {"domain": DOMAIN, "hostprefix": "x"}}, "istio.hostprefix", "one of the keys"),
        ({"cluster": {"mode": "import"}}, "cluster.mode", "one of create, existing"),
        (
            # The form kustomize itself reads, but pulumi's git helper never looks at the query.
            {
                "operator": {
                    "manifests": "https://github.com/openvinotoolkit/operator/config/default?ref=v1.2.0"
                }
            },
            "operator.manifests",
            "a git URL https://<host>/<owner>/<repo>/tree/<tag or commit>/<folder>",
        ),
        (
            {"operator": {"manifests": "/nonexistent/operator/config"}},
            "operator.manifests",
            "a local folder holding a kustomization.yaml",
        ),
        ({"cluster": {"mode": "create", "project": "p"}}, "cluster.location", "a GCP zone or region"),
        ({"cluster": {"mode": "create", "location": "europe-central2-a"}}, "cluster.project", "GCP project"),
        (
            {"cluster": {"node_pool": {"node_count": 2, "max_nodes": 4, "min_nodes": 1}}},
            "cluster.node_pool",
            "either node_count",
        ),
        (
            {"cluster": {"node_pool": {"min_nodes": 3, "max_nodes": 2}}},
            "cluster.node_pool.min_nodes",
            "at most",
        ),
        (
            {"cluster": {"node_pool": {"max_nodes": 2}}},
            "cluster.node_pool",
            "min_nodes and max_nodes together",
        ),
        (
            {"cluster": {"node_pool": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}}},
            "cluster.node_pool.taints[0].effect",
            "one of PREFER_NO_SCHEDULE",
        ),
        (
            {"cluster": {"node_pool": {"labels": {"bad key!": "x"}}}},
            "cluster.node_pool.labels.bad key!",
            "label",
        ),
        (
            {"cluster": {"node_pool": {"machine_type": "N2 standard"}}},
            "cluster.node_pool.machine_type",
            "GCE",
        ),
        (
            {"cluster": {"node_pool": {"machinetype": "n2-standard-4"}}},
            "cluster.node_pool.machinetype",
            "one of the keys name, machine_type",
        ),
        ({"namespace": "Fuseml"}, "namespace", "DNS label"),
        ({"environment": "production"}, "environment", "one of dev, test, staging, prod"),
        ({"operator": {"version": "latest"}}, "operator.version", "a pinned release like 1.2.0"),
        ({"fuseml": {"register": True}}, "fuseml.url", "when fuseml.register is true"),
        ({"fuseml": {"register": False, "timeout_s": 0}}, "fuseml.timeout_s", "(0, 300]"),
        ({"fuseml": {"register": False, "workflow": "My Flow"}}, "fuseml.workflow", "a DNS label"),
        ({"modles": []}, "modles", "one of the keys"),
        ({"aws_secret_access_key": "plain"}, "aws_secret_access_key", "pulumi config set --secret"),
    ],
)
def test_bad_stack_settings(config: dict[str, Any], key: str, allowed: str) -> None:
    message = error({**raw(), **config})
    assert message.startswith(f"fuseml-serving:{key}")
    assert allowed in message


def test_secret_values_never_appear_in_messages() -> None:
    message = error({**raw(), "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG"})
    assert "wJalrXUtnFEMI" not in message


def test_create_mode_reads_the_node_pool() -> None:
    cfg = parse(
        raw(
            cluster={
                "mode": "create",
                "project": "fuseml",
                "location": "europe-central2-a",
                "node_pool": {"min_nodes": 1, "max_nodes": 3, "labels": {"team": "ml"}},
            }
        )
    )
    pool = cfg.cluster.node_pool
    assert (
        cfg.cluster.create
        and pool.autoscaling
        and (pool.min_nodes, pool.max_nodes, pool.node_count) == (1, 3, None)
    )
    assert pool.taints[0].effect == "PREFER_NO_SCHEDULE"


# --- resources: what Kubernetes and the ModelServer CRD accept ----------------------------------------


@pytest.mark.parametrize(
    ("resources", "key", "allowed"),
    [
        (
            {"requests": {"CPU": 2}},
            "models[0].resources.requests.CPU",
            "cpu, memory, or a device resource <vendor domain>/<name> like gpu.intel.com/i915 "
            "(resource names are lowercase: cpu)",
        ),
        (
            {"limits": {"gpu": 1}},
            "models[0].resources.limits.gpu",
            "cpu, memory, or a device resource <vendor domain>/<name> like gpu.intel.com/i915",
        ),
        (
            {"limits": {"hugepages-2Mi": "1Gi"}},
            "models[0].resources.limits.hugepages-2Mi",
            "hugepages-2Mi is a Kubernetes resource the ModelServer CRD cannot hold",
        ),
        (
            {"limits": {"example.kubernetes.io/thing": 1}},
            "models[0].resources.limits.example.kubernetes.io/thing",
            "a device resource <vendor domain>/<name>",
        ),
        (
            {"requests": {"memory": "500m"}},
            "models[0].resources.requests.memory",
            "a memory size of at least 1Mi, like 512Mi or 2Gi (a bare number is bytes, m thousandths)",
        ),
        (
            {"requests": {"memory": 512}},
            "models[0].resources.requests.memory",
            "a memory size of at least 1Mi",
        ),
        ({"requests": {"cpu": "0"}}, "models[0].resources.requests.cpu", "a CPU amount of at least 1m"),
    ],
)
def test_resources_kubernetes_or_the_crd_refuse(resources: dict[str, Any], key: str, allowed: str) -> None:
    message = error(raw(model(resources=resources)))
    assert message.startswith(f"fuseml-serving:{key} (app 'resnet'): got ")
    assert allowed in message


def test_limits_without_requests_make_the_requests_equal_as_in_kubernetes() -> None:
    (m,) = parse(raw(model(resources={"limits": {"cpu": 4, "memory": "8Gi"}}))).models
    assert m.requests == {"cpu": "4", "memory": "8Gi"} and m.limits == {"cpu": "4", "memory": "8Gi"}
    (m,) = parse(raw(model(resources_limits={"cpu": 3}))).models
    assert (
        m.requests["cpu"] == "3" and m.requests["memory"] == MODEL_DEFAULTS["resources"]["requests"]["memory"]
    )


def test_a_limit_below_the_request_names_the_key_the_user_wrote() -> None:
    message = error(raw(model(resources={"requests": {"cpu": 2}}, resources_limits={"cpu": 1})))
    assert message.startswith("fuseml-serving:models[0].resources_limits.cpu (app 'resnet'): got '1'")
    assert message.endswith("allowed: at least the request (2)")


# --- what OVMS and the operator really accept ------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "key", "allowed"),
    [
        (
            {"model": "azure://container/model"},
            "models[0].model",
            "an s3://, gs://, az:// or azfs:// URL with a bucket, or an absolute local path: "
            "OVMS reads Azure Blob Storage as az:// (write az://container/model)",
        ),
        ({"target_device": "MYRIAD"}, "models[0].target_device", "; MYRIAD was removed in OpenVINO 2023.0"),
        (
            {"target_device": "MULTI:HDDL,CPU"},
            "models[0].target_device",
            "; HDDL was removed in OpenVINO 2023.0",
        ),
        ({"target_device": "GPU.x"}, "models[0].target_device", "or GPU.<n>"),
        (
            {"target_device": "GPU"},
            "models[0].ovms_image_tag",
            "the -gpu image variant (e.g. 2026.2-gpu) for target_device GPU: "
            "the plain image has no GPU runtime",
        ),
        (
            {"ovms_image_tag": "2026.3"},
            "models[0].ovms_image_tag",
            "a release up to 2026.2: OVMS 2026.3 removed the TensorFlow Serving API and a flag the OpenVINO "
            "operator 1.2.0 always passes",
        ),
        ({"batch_size": "8:1"}, "models[0].batch_size", "a range min:max with min <= max (got 8 > 1)"),
        ({"batch_size": 0}, "models[0].batch_size", "a positive integer, -1 (any batch), a range like 1:8"),
    ],
)
def test_what_ovms_and_the_operator_refuse(entry: dict[str, Any], key: str, allowed: str) -> None:
    message = error(raw(model(**entry)))
    assert message.startswith(f"fuseml-serving:{key} (app 'resnet'): got ")
    assert message.endswith(f"allowed: {allowed}") or allowed in message, message


def test_batch_size_auto_is_accepted_with_one_warning_naming_the_replacements() -> None:
    cfg = parse(raw(model(batch_size="auto"), model(app_name="other", batch_size="1:8")))
    assert cfg.warnings == (
        "fuseml-serving:models[0].batch_size (app 'resnet'): 'auto' is deprecated in OpenVINO Model Server "
        "(it reloads the model whenever the batch changes): use -1 (any batch) or a range such as 1:8",
    )
    assert [m.batch_size for m in cfg.models] == ["auto", "1:8"]


def test_a_local_model_path_must_lie_under_the_mounted_claim() -> None:
    storage = {"models_volume_claim": "models-pvc"}
    assert parse(raw(model(model="/models/resnet/1"), storage=storage)).models[0].model == "/models/resnet/1"
    message = error(raw(model(model="/data/resnet"), storage=storage))
    assert message == (
        "fuseml-serving:models[0].model (app 'resnet'): got '/data/resnet'; allowed: a local path under "
        "/models/, where the operator mounts storage.models_volume_claim 'models-pvc'"
    )


def test_the_kserve_v2_url_is_offered_beside_the_v1_one() -> None:
    cfg = parse(raw(model(model_name="resnet")))
    (m,) = cfg.models
    assert ovms_urls(cfg, m).prediction == f"http://resnet.ovms.{DOMAIN}/v1/models/resnet:predict"
    assert ovms_urls(cfg, m).inference == f"http://resnet.ovms.{DOMAIN}/v2/models/resnet/infer"


# --- names and sizes the platform refuses ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "key", "allowed"),
    [
        ({"namespace": "n" * 64}, "namespace", "a Kubernetes namespace name"),
        ({"istio": {"domain": DOMAIN, "host_prefix": "p" * 64}}, "istio.host_prefix", "a DNS label"),
        ({"istio": {"domain": ("d" * 64) + ".example.com"}}, "istio.domain", "the DNS domain"),
        ({"cluster": {"name": "c" * 41}}, "cluster.name", "a GKE name"),
        ({"cluster": {"name": "9lives"}}, "cluster.name", "a GKE name: a lowercase letter"),
        ({"cluster": {"node_pool": {"name": "p" * 41}}}, "cluster.node_pool.name", "at most 40 chars"),
        (
            {"cluster": {"node_pool": {"node_count": 2**31}}},
            "cluster.node_pool.node_count",
            "up to 2147483647",
        ),
        ({"operator": {"namespace": "o" * 64}}, "operator.namespace", "a namespace name"),
    ],
)
def test_names_and_sizes_the_platform_refuses(config: dict[str, Any], key: str, allowed: str) -> None:
    message = error({**raw(), **config})
    assert message.startswith(f"fuseml-serving:{key}: got ")
    assert allowed in message


def test_integers_the_crd_holds_as_int32() -> None:
    message = error(raw(model(nireq=2**31)))
    assert message.startswith("fuseml-serving:models[0].nireq (app 'resnet'): got 2147483648")
    assert message.endswith("up to 2147483647 (stored as a 32-bit integer)")


def test_a_host_over_253_chars_is_refused() -> None:
    domain = ".".join(["d" * 60] * 4)
    message = error(raw(model(app_name="a" * 48), istio={"domain": domain}))
    assert message.startswith("fuseml-serving:models[0].app_name (app '" + "a" * 48 + "'): got ")
    assert message.endswith("chars) to fit 253")


# --- one way to read each kind of input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "{PERFORMANCE_HINT: LATENCY}",
        '{"PERFORMANCE_HINT": "LATENCY"}',
        '\'{"PERFORMANCE_HINT": "LATENCY"}\'',
        '  {PERFORMANCE_HINT: "LATENCY"}  ',
    ],
)
def test_plugin_config_reads_yaml_flow_and_quoted_json_as_resources_does(text: str) -> None:
    (m,) = parse(raw(model(plugin_config=text, resources=text.replace("PERFORMANCE_HINT", "requests")
                                                .replace("LATENCY", "{cpu: 2}")))).models  # fmt: skip
    assert json.loads(m.plugin_config) == {"PERFORMANCE_HINT": "LATENCY"}
    assert m.requests["cpu"] == "2"


@pytest.mark.parametrize(
    ("word", "expected"), [("yes", True), (" On ", True), ("0", False), ("False", False)]
)
def test_booleans_read_the_same_words_everywhere(word: str, expected: bool) -> None:
    cfg = parse(raw(operator={"install": word}, istio={"domain": DOMAIN, "create_gateway": word}))
    assert cfg.operator.install is expected and cfg.istio.create_gateway is expected


def test_a_blank_the_user_wrote_is_refused_not_replaced_by_the_default() -> None:
    message = error(raw(istio={"domain": DOMAIN, "host_prefix": ""}))
    assert message == (
        "fuseml-serving:istio.host_prefix: got ''; allowed: a value, or no host_prefix key at all for the "
        "default 'ovms'"
    )


def test_a_pool_label_the_program_sets_itself_is_refused() -> None:
    cluster = {
        "mode": "create",
        "project": "p",
        "location": "europe-central2-a",
        "node_pool": {"labels": {"fuseml-serving/pool": "mine"}},
    }
    message = error(raw(cluster=cluster))
    assert message.startswith("fuseml-serving:cluster.node_pool.labels.fuseml-serving/pool: got 'mine'")
    assert "the program sets fuseml-serving/pool to the pool's name (ovms-n2)" in message


def test_the_gcp_providers_own_project_and_zone_are_honoured() -> None:
    cfg = parse(raw(cluster={"mode": "create"}), gcp={"project": "acme", "zone": "europe-west4-a"})
    assert (cfg.cluster.project, cfg.cluster.location) == ("acme", "europe-west4-a")
    cfg = parse(raw(cluster={"mode": "create", "location": "us-east1"}), gcp={"project": "acme", "zone": "z"})
    assert cfg.cluster.location == "us-east1"
    message = error(raw(cluster={"mode": "create", "location": "us-east1"}))
    assert message.endswith("in create mode, here or as the provider's gcp:project")


def test_every_mistake_of_a_stack_is_reported_in_one_run() -> None:
    config = raw(
        model(nireq="four", replicas=0),
        model(app_name="resnet", model="azure://c/m"),
        namespace="Bad_NS",
        istio={"domain": DOMAIN, "host_prefix": ""},
    )
    with pytest.raises(ConfigErrors) as raised:
        parse(config)
    lines = str(raised.value).splitlines()
    assert [error.key for error in raised.value.errors] == [
        "namespace",
        "istio.host_prefix",
        "models[0].nireq",
        "models[0].replicas",
        "models[1].model",
    ]
    assert (
        lines[0] == "fuseml-serving:namespace: got 'Bad_NS'; allowed: a Kubernetes namespace name (DNS label)"
    )
    assert (
        lines[2] == "fuseml-serving:models[0].nireq (app 'resnet'): got 'four'; allowed: a positive integer"
    )
    assert all(line.startswith("fuseml-serving:") and "; allowed: " in line for line in lines)
    # The first mistake stays readable through the single-error interface.
    assert (raised.value.key, raised.value.value) == ("namespace", "Bad_NS")


@pytest.mark.parametrize(("key", "value"), [("namespace", ""), ("environment", ""), ("namespace", 0)])
def test_a_blank_or_wrong_typed_top_level_value_is_refused_not_defaulted(key: str, value: Any) -> None:
    assert error({**raw(), key: value}).startswith(f"fuseml-serving:{key}: got {value!r}; allowed: ")


def test_an_empty_taint_value_is_a_value_and_choices_ignore_surrounding_whitespace() -> None:
    cfg = parse(raw(cluster={"node_pool": {"taints": [{"key": "k", "value": ""}]}}, environment=" prod "))
    assert cfg.cluster.node_pool.taints[0].value == "" and cfg.environment == "prod"
    assert parse(raw(model(loglevel=" info ", backend=" KServe "))).models[0].backend == "kserve"


def test_a_latest_variant_tag_is_not_pinned() -> None:
    assert "a pinned image tag such as 2024.0 (not latest)" in error(raw(model(ovms_image_tag="latest-gpu")))


def test_a_key_holding_a_line_separator_is_shown_escaped_on_one_line() -> None:
    message = error(raw(model(resources={"req\x1cuests": {}})))
    assert message == (
        "fuseml-serving:models[0].resources.req\\x1cuests (app 'resnet'): got {}; allowed: one of the keys "
        "requests, limits (did you mean requests?)"
    )
    assert len(message.splitlines()) == 1


def test_a_gpu_is_refused_on_a_cluster_this_stack_creates_and_kept_on_an_existing_one() -> None:
    created = {"mode": "create", "project": "p", "location": "europe-central2-a"}
    gpu = model(target_device="GPU", ovms_image_tag="2026.2-gpu")
    message = error(raw(gpu, cluster=created))
    (line,) = message.splitlines()
    assert line.startswith("fuseml-serving:models[0].target_device (app 'resnet'): got 'GPU'; allowed: a CPU")
    assert "GKE offers no Intel GPU" in line
    assert parse(raw(gpu)).models[0].target_device == "GPU"
    assert parse(raw(model(target_device="AUTO:CPU"), cluster=created)).models[0].target_device == "AUTO:CPU"


def test_ovms_image_defaults_are_the_newest_release_what_drives_it_can_run() -> None:
    from kernel.backends import OVMS_NEWEST_RUNNABLE, OVMS_RELEASE

    assert tuple(int(part) for part in OVMS_RELEASE.split(".")) == OVMS_NEWEST_RUNNABLE == (2026, 2)
    assert MODEL_DEFAULTS["ovms_image_tag"] == DEFAULTS["kserve"]["openvino_image_tag"] == OVMS_RELEASE
    assert DEFAULTS["servers"] == [] and parse(raw(model())).models[0].ovms_image_tag == "2026.2"
    # A user who pins an older release keeps it; one past what the operator runs is refused.
    assert parse(raw(model(ovms_image_tag="2024.0"))).models[0].ovms_image_tag == "2024.0"
    pinned = parse(raw(model(), kserve={"openvino_image_tag": "2025.1"}))
    assert pinned.kserve.openvino_image_tag == "2025.1"
    assert "a release up to 2026.2" in error(raw(model(ovms_image_tag="2026.3")))


@pytest.mark.parametrize(
    ("config", "key", "secret"),
    [
        ({"fuseml": {"url": "http://bob:hunter2@fuseml.example"}}, "fuseml.url", "hunter2"),
        ({"models": [model(model="s3://AKIAEXAMPLE:wJalrXUtn@bucket/m")]}, "models[0].model", "wJalrXUtn"),
        (
            {"operator": {"manifests": "https://ghp_tok3n:x@github.com/o/r/tree/v1.2.0/config/default"}},
            "operator.manifests",
            "ghp_tok3n",
        ),
        # A secret written under a key the program does not know is still a secret.
        ({"aws_secret_acess_key": "wJalrXUtnFEMI"}, "aws_secret_acess_key", "wJalrXUtnFEMI"),
        ({"fuseml": {"token": "t0k3n-value"}}, "fuseml.token", "t0k3n-value"),
    ],
)
def test_no_credential_in_a_url_or_under_a_secret_looking_key_is_taken_or_echoed(
    config: dict[str, Any], key: str, secret: str
) -> None:
    message = error({**raw(model()), **config})
    (line,) = [line for line in message.splitlines() if line.startswith(f"fuseml-serving:{key}")]
    assert secret not in message
    assert "no user or password in it" in line or "got '<hidden>'" in line
