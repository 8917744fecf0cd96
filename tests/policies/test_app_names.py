"""Application name rules (policies/rules/app_names.py): explicit, deterministic and unique names."""

from __future__ import annotations

import pytest

from policies import rules
from tests.policies.builders import (
    fuseml_app,
    model_server,
    policy_resource,
    resource_urn,
    run_resource,
    run_stack,
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
