"""ModelServer rules (policies/rules/model_server.py): resources, nireq, plugin_config, prod replicas."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policies import rules
from tests.policies.builders import (
    inference_service,
    model_server,
    run_resource,
    seldon_deployment,
    sized,
)


# ---------------------------------------------------------------------------------------------------------
# model-server-resources (and Kubernetes quantities).
# ---------------------------------------------------------------------------------------------------------
def test_model_server_resources_pass() -> None:
    assert run_resource("model-server-resources", rules.MODEL_SERVER, model_server()) == []


def test_model_server_resources_missing_and_invalid() -> None:
    props = model_server()
    props["spec"]["deployment_parameters"]["resources"] = {
        "requests": {"cpu": "500m"},
        "limits": {"cpu": "lots", "memory": "512m"},
    }
    found = run_resource("model-server-resources", rules.MODEL_SERVER, props)
    # The rule's own words, one finding per problem: the missing request, the unparsable limit and the
    # milli-byte limit (a quantity's "m" is milli, 1/1000: policies/rules/model_server.py).
    assert sorted(found) == sorted(
        [
            'ModelServer "res" does not set spec.deployment_parameters.resources.requests.memory; every '
            'model server needs cpu and memory requests and limits (a Kubernetes quantity such as "1Gi").',
            "ModelServer \"res\" sets spec.deployment_parameters.resources.limits.cpu to 'lots', which is "
            'not a positive Kubernetes quantity (e.g. "500m", "2", "4Gi").',
            "ModelServer \"res\" sets spec.deployment_parameters.resources.limits.memory to '512m' = 0.512 "
            'bytes; memory must be at least 1Mi ("m" means milli-bytes: did you mean "Mi"?).',
        ]
    ), found


def test_model_server_request_above_limit() -> None:
    props = model_server()
    props["spec"]["deployment_parameters"]["resources"]["requests"]["cpu"] = "3"
    found = run_resource("model-server-resources", rules.MODEL_SERVER, props)
    assert len(found) == 1 and "more cpu ('3') than its limit ('2')" in found[0]


def test_inference_service_predictor_resources() -> None:
    assert run_resource("model-server-resources", rules.INFERENCE_SERVICE, inference_service()) == []
    found = run_resource("model-server-resources", rules.INFERENCE_SERVICE, inference_service(resources=None))
    assert len(found) == 4, found
    assert all("spec.predictor.model.resources." in f and "every model server needs" in f for f in found)
    low = inference_service(resources=sized(memory="512m", memory_limit="2Gi"))
    (problem,) = run_resource("model-server-resources", rules.INFERENCE_SERVICE, low)
    assert "spec.predictor.model.resources.requests.memory" in problem and 'did you mean "Mi"' in problem


def test_inference_service_custom_containers_and_framework_predictors() -> None:
    custom = inference_service()
    custom["spec"]["predictor"] = {"containers": [{"name": "kserve-container", "image": "x:1"}]}
    found = run_resource("model-server-resources", rules.INFERENCE_SERVICE, custom)
    assert len(found) == 4 and "spec.predictor.containers[0].resources.limits.cpu" in "\n".join(found)
    legacy = inference_service()
    legacy["spec"]["predictor"] = {"tensorflow": {"storageUri": "s3://m/x", "resources": sized(cpu="3")}}
    (problem,) = run_resource("model-server-resources", rules.INFERENCE_SERVICE, legacy)
    assert "more cpu ('3') than its limit ('2')" in problem


def test_modelmesh_inference_service_has_no_pod_to_size() -> None:
    # Its ServingRuntime's shared pods hold the resources; the InferenceService cannot set them.
    props = inference_service(modelmesh=True)
    assert run_resource("model-server-resources", rules.INFERENCE_SERVICE, props) == []


def test_seldon_component_containers_resources() -> None:
    assert run_resource("model-server-resources", rules.SELDON_DEPLOYMENT, seldon_deployment()) == []
    found = run_resource("model-server-resources", rules.SELDON_DEPLOYMENT, seldon_deployment(resources={}))
    assert len(found) == 4, found
    assert "spec.predictors[0].componentSpecs[0].spec.containers[0].resources.requests.cpu" in found[0]
    bare = seldon_deployment()
    del bare["spec"]["predictors"][0]["componentSpecs"]
    (problem,) = run_resource("model-server-resources", rules.SELDON_DEPLOYMENT, bare, name="sd")
    assert 'SeldonDeployment "sd" has no container' in problem and "without cpu and memory" in problem


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("500m", 0.5),
        ("2", 2.0),
        (1.5, 1.5),
        ("1Gi", 2.0**30),
        ("1e3", 1000.0),
        ("1.5k", 1500.0),
        ("x", None),
        (True, None),
    ],
)
def test_parse_quantity(value: Any, expected: float | None) -> None:
    assert rules.parse_quantity(value) == expected


# ---------------------------------------------------------------------------------------------------------
# model-server-nireq-bounded and model-server-plugin-config.
# ---------------------------------------------------------------------------------------------------------
def test_nireq_within_bounds_passes() -> None:
    # 2 cores x 4 per core = 8.
    assert run_resource("model-server-nireq-bounded", rules.MODEL_SERVER, model_server(nireq=8.0)) == []
    assert run_resource("model-server-nireq-bounded", rules.MODEL_SERVER, model_server(nireq=None)) == []


def test_nireq_too_high_for_cpu_limit() -> None:
    props = model_server(nireq=9.0)
    found = run_resource("model-server-nireq-bounded", rules.MODEL_SERVER, props)
    assert len(found) == 1 and "nireq to 9" in found[0] and "1..8" in found[0]
    assert (
        run_resource("model-server-nireq-bounded", rules.MODEL_SERVER, props, config={"nireq_per_core": 5})
        == []
    )


def test_nireq_rounds_fractional_cpu_up_and_rejects_zero() -> None:
    props = model_server(nireq=5.0)
    props["spec"]["deployment_parameters"]["resources"]["limits"]["cpu"] = "500m"
    found = run_resource("model-server-nireq-bounded", rules.MODEL_SERVER, props)
    assert len(found) == 1 and "0.5 CPU core(s)" in found[0] and "1..4" in found[0]
    zero = run_resource("model-server-nireq-bounded", rules.MODEL_SERVER, model_server(nireq=0.0))
    assert len(zero) == 1 and "integer >= 1" in zero[0]


def test_performance_hint_num_requests_bounded_too() -> None:
    props = model_server(plugin_config='{"PERFORMANCE_HINT_NUM_REQUESTS": "64"}')
    found = run_resource("model-server-nireq-bounded", rules.MODEL_SERVER, props)
    assert len(found) == 1 and "PERFORMANCE_HINT_NUM_REQUESTS to 64" in found[0]


def test_plugin_config_known_keys_pass() -> None:
    config = json.dumps(
        {
            "PERFORMANCE_HINT": "THROUGHPUT",
            "NUM_STREAMS": "AUTO",
            "CPU_BIND_THREAD": "NUMA",
            "ENABLE_CPU_PINNING": True,
            "INFERENCE_PRECISION_HINT": "BF16",
            "CPU_THROUGHPUT_STREAMS": "CPU_THROUGHPUT_AUTO",
            "INFERENCE_NUM_THREADS": 4,
        }
    )
    assert (
        run_resource("model-server-plugin-config", rules.MODEL_SERVER, model_server(plugin_config=config))
        == []
    )


def test_plugin_config_unknown_key_bad_value_and_bad_json() -> None:
    config = json.dumps({"CPU_BIND_THREADS": "YES", "PERFORMANCE_HINT": "FAST"})
    found = run_resource("model-server-plugin-config", rules.MODEL_SERVER, model_server(plugin_config=config))
    text = "\n".join(found)
    assert len(found) == 2, found
    assert "unknown OpenVINO property 'CPU_BIND_THREADS'" in text and "CPU_BIND_THREAD," in text
    assert "PERFORMANCE_HINT to 'FAST'" in text and "LATENCY" in text
    bad = run_resource("model-server-plugin-config", rules.MODEL_SERVER, model_server(plugin_config="{oops"))
    assert len(bad) == 1 and "not valid JSON" in bad[0]


def test_plugin_config_extra_keys_from_config() -> None:
    props = model_server(plugin_config='{"MY_PLUGIN_KEY": "1"}')
    assert run_resource("model-server-plugin-config", rules.MODEL_SERVER, props)
    assert (
        run_resource(
            "model-server-plugin-config",
            rules.MODEL_SERVER,
            props,
            config={"extra_plugin_config_keys": ["MY_PLUGIN_KEY"]},
        )
        == []
    )


# ---------------------------------------------------------------------------------------------------------
# prod-model-server-replicas.
# ---------------------------------------------------------------------------------------------------------
def test_prod_replicas() -> None:
    assert run_resource("prod-model-server-replicas", rules.MODEL_SERVER, model_server(env="dev")) == []
    prod = model_server(env="prod")
    found = run_resource("prod-model-server-replicas", rules.MODEL_SERVER, prod)
    assert len(found) == 1 and "replicas is 1" in found[0] and "at least 2" in found[0]
    prod["spec"]["deployment_parameters"]["replicas"] = 2.0
    assert run_resource("prod-model-server-replicas", rules.MODEL_SERVER, prod) == []
    assert run_resource("prod-model-server-replicas", rules.MODEL_SERVER, prod, config={"min_replicas": 3})
    del prod["spec"]["deployment_parameters"]["replicas"]
    assert "unset (1)" in run_resource("prod-model-server-replicas", rules.MODEL_SERVER, prod)[0]
