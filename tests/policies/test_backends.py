"""Serving backend rule (policies/rules/backends.py): warn on backends their upstream no longer develops."""

from __future__ import annotations

from typing import Any

import pytest

from kernel.backends import SELDON, UPSTREAM
from policies import rules
from tests.policies.builders import (
    cluster_serving_runtime,
    inference_service,
    model_server,
    run_resource,
    seldon_deployment,
)

POLICY = "serving-backend-maintained"


# ---------------------------------------------------------------------------------------------------------
# serving-backend-maintained.
# ---------------------------------------------------------------------------------------------------------
def test_kserve_and_other_kinds_pass() -> None:
    assert run_resource(POLICY, rules.INFERENCE_SERVICE, inference_service()) == []
    assert run_resource(POLICY, rules.CLUSTER_SERVING_RUNTIME, cluster_serving_runtime()) == []
    assert run_resource(POLICY, "kubernetes:core/v1:Secret", {"metadata": {"name": "storage-config"}}) == []


@pytest.mark.parametrize(
    ("resource_type", "props", "backend", "says"),
    [
        (rules.MODEL_SERVER, model_server(), "ovms", ["OpenVINO operator is deprecated", "kserve-openvino"]),
        (
            rules.INFERENCE_SERVICE,
            inference_service(modelmesh=True),
            "modelmesh",
            ["ModelMesh Serving is archived", "0.12.0", "backend kserve"],
        ),
        (
            rules.SELDON_DEPLOYMENT,
            seldon_deployment(),
            "seldon",
            ["Seldon Core 1 is in maintenance", "1.18.0", "Business Source License 1.1", "backend kserve"],
        ),
    ],
)
def test_unmaintained_backends_warn_with_the_alternative(
    resource_type: str, props: dict[str, Any], backend: str, says: list[str]
) -> None:
    (message,) = run_resource(POLICY, resource_type, props, name="server")
    assert message.startswith(f'{resource_type.rsplit(":", 1)[-1]} "server" uses backend {backend}: ')
    assert all(text in message for text in says), message
    assert f"list '{backend}' in this policy's `accepted` setting" in message
    assert run_resource(POLICY, resource_type, props, config={"accepted": [backend]}) == []
    others = sorted(set(rules.UNMAINTAINED_BACKENDS) - {backend})
    assert run_resource(POLICY, resource_type, props, config={"accepted": others}, name="server") == [message]


def test_modelmesh_is_told_by_its_annotation() -> None:
    props = inference_service(modelmesh=True)
    props["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] = "Serverless"
    assert run_resource(POLICY, rules.INFERENCE_SERVICE, props) == []
    assert rules.backend_of(rules.INFERENCE_SERVICE, inference_service(modelmesh=True)) == "modelmesh"
    # Any API version of the kinds counts.
    assert rules.backend_of("kubernetes:machinelearning.seldon.io/v1alpha3:SeldonDeployment", {}) == "seldon"


def test_accepted_names_only_known_backends() -> None:
    levels, settings = rules.merge_policy_config({POLICY: {"accepted": ["seldon"]}})
    assert levels[POLICY] == "advisory" and settings[POLICY] == {"accepted": ["seldon"]}
    with pytest.raises(ValueError, match=r"names \['seldn'\], not one of \['modelmesh', 'ovms', 'seldon'\]"):
        rules.merge_policy_config({POLICY: {"accepted": ["seldn"]}})


def test_the_warning_says_what_the_kernel_says_of_each_unmaintained_backend() -> None:
    # One statement of where each backend stands (kernel/backends.py): the rule adds no words of its own.
    assert {
        backend: upstream for backend, upstream in UPSTREAM.items() if not upstream.maintained
    } == rules.UNMAINTAINED_BACKENDS
    assert set(rules.UNMAINTAINED_BACKENDS) == {"ovms", "modelmesh", "seldon"}
    (message,) = run_resource(POLICY, rules.SELDON_DEPLOYMENT, seldon_deployment(), name="server")
    assert f"uses backend seldon: {SELDON.status}. The alternative is {SELDON.alternative};" in message
