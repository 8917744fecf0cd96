"""Image rule (policies/rules/images.py): the OVMS image and every container image are pinned."""

from __future__ import annotations

import pytest

from policies import rules
from tests.policies.builders import (
    deployment,
    model_server,
    run_resource,
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
