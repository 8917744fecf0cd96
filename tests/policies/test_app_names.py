"""Application name rules (policies/rules/app_names.py): explicit, deterministic and unique names."""

from __future__ import annotations

import pytest

from policies import rules
from tests.policies.builders import (
    fuseml_app,
    inference_service,
    model_server,
    policy_resource,
    resource_urn,
    run_resource,
    run_stack,
    seldon_deployment,
    serving_stack,
)


# ---------------------------------------------------------------------------------------------------------
# app-names-deterministic.
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mnist", "resnet50", "iris-classifier", "k8s-demo", "yolov5s", "bert4rec"])
def test_deterministic_names_pass(name: str) -> None:
    assert run_resource("app-names-deterministic", rules.FUSEML_APPLICATION, fuseml_app(name)) == []
    assert run_resource("app-names-deterministic", rules.MODEL_SERVER, model_server(name)) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("", "is missing"),
        ("MNIST_App", "not a DNS label"),
        ("x7k2pq-ab12cd-mlflow", "random-looking part(s) x7k2pq, ab12cd"),
        ("mnist-3f2a1b9", "random-looking part(s) 3f2a1b9"),
        ("qzkvw-serving", "random-looking part(s) qzkvw"),
    ],
)
def test_bad_app_names_flagged(name: str, expected: str) -> None:
    found = run_resource("app-names-deterministic", rules.FUSEML_APPLICATION, fuseml_app(name))
    assert len(found) == 1 and expected in found[0], found


def test_model_server_name_must_follow_app_label() -> None:
    props = model_server("mnist")
    props["metadata"]["name"] = "ovms-other"
    found = run_resource("app-names-deterministic", rules.MODEL_SERVER, props)
    assert len(found) == 1 and "expected 'ovms-mnist'" in found[0]
    del props["metadata"]["labels"]["fuseml/app-name"]
    missing = run_resource("app-names-deterministic", rules.MODEL_SERVER, props)
    assert len(missing) == 1 and "fuseml/app-name=None is missing" in missing[0]


BACKEND_OBJECTS = [
    (rules.INFERENCE_SERVICE, inference_service),
    (rules.INFERENCE_SERVICE, lambda app: inference_service(app, modelmesh=True)),
    (rules.SELDON_DEPLOYMENT, seldon_deployment),
]


@pytest.mark.parametrize(("resource_type", "build"), BACKEND_OBJECTS)
def test_backend_objects_with_app_label_are_named_after_the_app(resource_type: str, build) -> None:
    assert run_resource("app-names-deterministic", resource_type, build("cifar10-kserve")) == []
    generated = build("mnist-3f2a1b9")
    (problem,) = run_resource("app-names-deterministic", resource_type, generated)
    assert "fuseml/app-name='mnist-3f2a1b9'" in problem and "random-looking part(s) 3f2a1b9" in problem
    renamed = build("mnist")
    renamed["metadata"]["name"] = "mnist-v2"
    (problem,) = run_resource("app-names-deterministic", resource_type, renamed)
    assert "metadata.name 'mnist-v2' does not match its app name 'mnist'" in problem
    # Without the label the object is not a FuseML app's server: nothing to judge.
    del renamed["metadata"]["labels"]["fuseml/app-name"]
    assert run_resource("app-names-deterministic", resource_type, renamed) == []


def test_allowed_names_override_heuristic() -> None:
    assert (
        run_resource(
            "app-names-deterministic",
            rules.FUSEML_APPLICATION,
            fuseml_app("a1b2c3"),
            config={"allowed_names": ["a1b2c3"]},
        )
        == []
    )


# ---------------------------------------------------------------------------------------------------------
# app-names-unique.
# ---------------------------------------------------------------------------------------------------------
def test_unique_app_names() -> None:
    assert run_stack("app-names-unique", serving_stack("mnist", "iris")) == []
    duplicate = [
        *serving_stack("mnist"),
        policy_resource(rules.FUSEML_APPLICATION, "app-mnist-2", fuseml_app("mnist")),
    ]
    found = run_stack("app-names-unique", duplicate)
    assert len(found) == 2 and all("'mnist'" in message for _, message in found)
    assert {urn for urn, _ in found} == {
        resource_urn(rules.FUSEML_APPLICATION, "app-mnist"),
        resource_urn(rules.FUSEML_APPLICATION, "app-mnist-2"),
    }


def test_app_names_unique_across_backends() -> None:
    stack = [
        policy_resource(rules.MODEL_SERVER, "ms", model_server("mnist"), ["spec"]),
        policy_resource(rules.INFERENCE_SERVICE, "isvc", inference_service("iris")),
        policy_resource(rules.SELDON_DEPLOYMENT, "sd", seldon_deployment("wine")),
        policy_resource(rules.INFERENCE_SERVICE, "mm", inference_service("digits", modelmesh=True)),
    ]
    assert run_stack("app-names-unique", stack) == []
    clash = [*stack, policy_resource(rules.SELDON_DEPLOYMENT, "sd-iris", seldon_deployment("iris"))]
    found = run_stack("app-names-unique", clash)
    assert {urn for urn, _ in found} == {
        resource_urn(rules.INFERENCE_SERVICE, "isvc"),
        resource_urn(rules.SELDON_DEPLOYMENT, "sd-iris"),
    }
    assert all("label fuseml/app-name 'iris'" in message for _, message in found)
