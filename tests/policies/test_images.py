"""Image rule (policies/rules/images.py): the OVMS image and every container image are pinned."""

from __future__ import annotations

import pytest

from policies import rules
from tests.policies.builders import (
    cluster_serving_runtime,
    deployment,
    inference_service,
    model_server,
    run_resource,
    seldon_deployment,
)


# ---------------------------------------------------------------------------------------------------------
# images-pinned.
# ---------------------------------------------------------------------------------------------------------
def test_pinned_images_pass() -> None:
    assert run_resource("images-pinned", rules.MODEL_SERVER, model_server()) == []
    digest = "quay.io/op@sha256:" + "a" * 64
    assert run_resource("images-pinned", "kubernetes:apps/v1:Deployment", deployment(digest)) == []
    assert (
        run_resource("images-pinned", "kubernetes:apps/v1:Deployment", deployment("localhost:5000/op:1.2"))
        == []
    )


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("openvino/model_server:latest", "floating tag 'latest'"),
        ("openvino/model_server", "has no tag"),
        ("localhost:5000/model_server", "has no tag"),
        ("openvino/model_server:latest-gpu", "floating tag"),
        ("openvino/model_server@sha256:abc", "malformed digest"),
    ],
)
def test_unpinned_images_flagged(image: str, expected: str) -> None:
    props = model_server()
    props["spec"]["image_name"] = image
    found = run_resource("images-pinned", rules.MODEL_SERVER, props)
    assert len(found) == 1 and expected in found[0] and "spec.image_name" in found[0], found
    pod = run_resource("images-pinned", "kubernetes:apps/v1:Deployment", deployment(image))
    assert len(pod) == 1 and "spec.template.spec.containers[0].image" in pod[0]


def test_require_digest_config() -> None:
    assert run_resource("images-pinned", rules.MODEL_SERVER, model_server(), config={"require_digest": True})


def test_serving_runtime_and_backend_container_images() -> None:
    runtime = rules.CLUSTER_SERVING_RUNTIME
    assert run_resource("images-pinned", runtime, cluster_serving_runtime()) == []
    latest = cluster_serving_runtime("openvino/model_server:latest")
    (problem,) = run_resource("images-pinned", runtime, latest)
    assert "spec.containers[0].image" in problem and "floating tag 'latest'" in problem
    custom = inference_service()
    custom["spec"]["predictor"] = {"containers": [{"name": "kserve-container", "image": "my/server"}]}
    (problem,) = run_resource("images-pinned", rules.INFERENCE_SERVICE, custom)
    assert "spec.predictor.containers[0].image" in problem and "has no tag" in problem


def seldon_images(image: str | None = None) -> list[str]:
    props = seldon_deployment() if image is None else seldon_deployment(image=image)
    return run_resource("images-pinned", rules.SELDON_DEPLOYMENT, props)


def test_seldon_images_judged_only_when_given() -> None:
    # Without an image Seldon runs its prepackaged server (TENSORFLOW_SERVER) at the operator's version.
    assert seldon_images() == []
    assert seldon_images("tf/serving:2.14") == []
    found = seldon_images("tf/serving:nightly")
    assert len(found) == 1 and "componentSpecs[0].spec.containers[0].image" in found[0], found
    assert "floating tag 'nightly'" in found[0]
    empty = seldon_images("")
    assert len(empty) == 1 and "is empty" in empty[0]
