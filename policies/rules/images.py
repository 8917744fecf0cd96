"""Image rules: the OVMS image and every container image are pinned to a fixed tag or digest.

Why its own module: it looks at every resource with containers, not only model servers: pod templates,
KServe (Cluster)ServingRuntimes and InferenceService containers, SeldonDeployment componentSpecs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel

from .common import (
    RuleSpec,
    _get,
    _is_model_server,
    _is_seldon_deployment,
    _known,
    _label,
    _path_text,
    _str_list,
    _string_list,
)

# ---------------------------------------------------------------------------------------------------------
# images-pinned: images are pinned.
# ---------------------------------------------------------------------------------------------------------
CONTAINER_LIST_KEYS = frozenset({"containers", "initContainers", "ephemeralContainers"})
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def image_problem(image: Any, floating_tags: Sequence[str] = ("latest",),
                  require_digest: bool = False) -> str | None:
    """Why an image reference is not pinned, or None when it is (a digest, or a non-floating tag)."""
    if not _known(image):
        return None
    if not isinstance(image, str) or not image.strip():
        return "is empty"
    ref = image.strip()
    if "@" in ref:
        digest = ref.split("@", 1)[1]
        if _DIGEST_RE.match(digest):
            return None
        return f"has a malformed digest {digest!r} (want sha256:<64 hex>)"
    if require_digest:
        return "has no @sha256 digest (require_digest is on)"
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag, so it floats with :latest"
    tag = last.rsplit(":", 1)[1]
    floating = {t.lower() for t in floating_tags}
    if tag.lower() in floating or tag.lower().startswith("latest"):
        return f"uses the floating tag {tag!r}"
    return None


def _container_images(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[str, Any]]:
    """Yield (path, image) for every container in any pod template inside the props."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in CONTAINER_LIST_KEYS and isinstance(item, list | tuple):
                for index, container in enumerate(item):
                    if isinstance(container, Mapping):
                        yield _path_text((*path, key, index, "image")), container.get("image")
            else:
                yield from _container_images(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _container_images(item, (*path, index))


def check_images_pinned(resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any] | None,
                        *, name: str = "", secret_outputs: Sequence[str] = ()) -> list[str]:
    """ModelServer spec.image_name and every container image carry a fixed tag or digest.

    Every `containers` list counts: pod templates, a ClusterServingRuntime's spec.containers, an
    InferenceService's predictor.containers and a SeldonDeployment's componentSpecs.  A Seldon container
    may leave out `image`: Seldon then runs the image of its prepackaged server (set by the operator's
    version), so only images that are given are judged there.

    Why: a floating tag makes `pulumi up` non-reproducible and lets a node restart pull a different
    OVMS build than the one that was reviewed and benchmarked.
    """
    label = _label(resource_type, props, name)
    floating = _str_list(IMAGES_PINNED.setting(config, "floating_tags"))
    require_digest = bool(IMAGES_PINNED.setting(config, "require_digest"))
    images: list[tuple[str, Any]] = []
    if _is_model_server(resource_type):
        images.append(("spec.image_name", _get(props, "spec", "image_name")))
    # Seldon fills in a missing componentSpecs image from its prepackaged server; Kubernetes and KServe
    # refuse a container without one, so there an absent image still counts as empty.
    given_only = _is_seldon_deployment(resource_type)
    images.extend((path, image) for path, image in _container_images(props, ())
                  if image is not None or not given_only)
    violations = []
    for path, image in images:
        problem = image_problem(image, floating, require_digest)
        if problem:
            violations.append(f"{label} image {image!r} at {path} {problem}; pin a release tag "
                              f"(e.g. openvino/model_server:2024.5) or an @sha256 digest.")
    return violations


IMAGES_PINNED = RuleSpec(
    "images-pinned",
    "Mandatory: the OVMS image and every container image (pod templates, ServingRuntimes, InferenceService "
    "and SeldonDeployment containers) use a fixed tag or digest, because floating tags make deployments "
    "irreproducible and swap unreviewed builds in on restart.",
    EnforcementLevel.MANDATORY, check_images_pinned,
    settings={
        "floating_tags": _string_list(["latest", "main", "master", "nightly", "edge", "dev"],
                                      "Tags treated as floating (any tag starting with 'latest' is)."),
        "require_digest": {"type": "boolean", "default": False,
                           "description": "Demand @sha256 digests instead of tags."},
    })


RULES: tuple[RuleSpec, ...] = (IMAGES_PINNED,)
