"""`--in-cluster --stack`: each model's cluster-internal URL, derived from what the program creates for it.

The stack's outputs are made by the program's own planning and `urls()` (what `pulumi stack output` would
print for this stack file), read back through a `pulumi` stand-in on PATH (the boundary). The expected
URLs are written out: the Service the program's Istio route sends each OVMS and ModelMesh host to, KServe's
InferenceService address and Seldon Core's predictor Service (upstream sources named in bench/stack.py).
They have the shapes of the tutorial's in-cluster load-test URLs (seed 004, cifar10/perf.yaml:
`ovms-cifar10-ovms.fuseml-workloads:8081/v1/models/default:predict`, Seldon's `<app>-<predictor>...:8000`).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from bench.stack import SELDON_PREDICTOR, config, stack_targets
from components.backends import registry, seldon
from components.planning import plans

NS = "fuseml-workloads"
STACK = {
    "fuseml-serving:namespace": NS,
    "fuseml-serving:operator": {"install": False},
    "fuseml-serving:istio": {"gateway": "ovms", "domain": "34.118.93.249.nip.io"},
    "fuseml-serving:fuseml": {"register": False},
    # ModelMesh reads s3:// only; secret values are never read by bench (they stand in as hidden).
    "fuseml-serving:aws_access_key_id": {"secure": "v1:x"},
    "fuseml-serving:aws_secret_access_key": {"secure": "v1:x"},
    "fuseml-serving:servers": [{"name": "vision", "ovms_image_tag": "2024.0"}],
    "fuseml-serving:models": [
        {"app_name": "cifar10-ovms", "model": "gs://b/ovms", "format": "openvino", "backend": "ovms"},
        {"app_name": "resnet", "model": "gs://b/resnet", "format": "openvino", "server": "vision"},
        {"app_name": "cifar10-kserve", "model": "gs://b/serving", "format": "keras", "backend": "kserve"},
        {"app_name": "cifar10-seldon", "model": "s3://b/serving", "format": "keras", "backend": "seldon"},
        {"app_name": "mesh-a", "model": "s3://b/a", "format": "sklearn", "backend": "modelmesh"},
        # The program plans an ONNX model on ModelMesh's ovms-1.x runtime: gRPC only, no REST to load.
        {"app_name": "mesh-onnx", "model": "s3://b/o", "format": "onnx", "backend": "modelmesh"},
    ],
}
INTERNAL = {
    # OVMS serves a model under its model_name, "default" unless set (the tutorial's URL).
    "cifar10-ovms": f"http://ovms-cifar10-ovms.{NS}.svc.cluster.local:8081/v1/models/default:predict",
    "resnet": f"http://ovms-vision.{NS}.svc.cluster.local:8081/v1/models/default:predict",
    "cifar10-kserve": f"http://cifar10-kserve.{NS}.svc.cluster.local/v1/models/cifar10-kserve:predict",
    "cifar10-seldon": f"http://cifar10-seldon-default.{NS}.svc.cluster.local:8000/v1/models/cifar10-seldon:predict",
    "mesh-a": f"http://modelmesh-serving.{NS}.svc.cluster.local:8008/v2/models/mesh-a/infer",
}


def _outputs(root: Path) -> dict:
    """The stack outputs the program makes for this stack file (components/program.py build)."""
    cfg = config("bench", root)
    planned = plans(cfg, registry(), lambda url: pytest.fail(f"no format is read from a store: {url}"))
    urls = {
        m.app_name: registry()[planned[m.app_name].backend].urls(cfg, m, planned[m.app_name])
        for m in cfg.models
    }
    return {
        "prediction_urls": {app: where.prediction for app, where in urls.items()},
        "serving": {app: asdict(plan) for app, plan in planned.items()},
    }


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "Pulumi.bench.yaml").write_text(yaml.safe_dump({"config": STACK}), encoding="utf-8")
    pulumi = tmp_path / "bin" / "pulumi"
    pulumi.parent.mkdir()
    pulumi.write_text(f"#!/bin/sh\ncat <<'END'\n{json.dumps(_outputs(tmp_path))}\nEND\n", encoding="utf-8")
    pulumi.chmod(pulumi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{pulumi.parent}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def test_every_backend_gets_the_url_of_what_the_program_routes_or_its_controller_serves(root: Path) -> None:
    targets, missing = stack_targets("bench", root, [], in_cluster=True)
    assert len(missing) == 1 and missing[0].startswith("mesh-onnx: no cluster-internal URL")
    assert {t.name: t.url for t in targets} == INTERNAL
    external = _outputs(root)["prediction_urls"]
    for target in targets:
        assert f"(external: {external[target.name]})" in " ".join(target.notes)
    # Outside the cluster, the outputs' URLs as they are.
    outside, _ = stack_targets("bench", root, [], in_cluster=False)
    assert {t.name: t.url for t in outside} == external and "mesh-onnx" in external


def test_the_program_names_seldons_predictor_as_bench_assumes(root: Path) -> None:
    model = next(m for m in config("bench", root).models if m.backend == "seldon")
    [predictor] = seldon.spec(model, "TENSORFLOW_SERVER", None, None, None)["predictors"]
    assert predictor["name"] == SELDON_PREDICTOR


def test_a_model_without_an_internal_rest_url_is_one_line_and_the_others_are_measured(root: Path) -> None:
    assert _outputs(root)["serving"]["mesh-onnx"]["runtime"] == "ovms-1.x"
    targets, missing = stack_targets("bench", root, ["mesh-onnx", "cifar10-kserve"], in_cluster=True)
    assert [t.name for t in targets] == ["cifar10-kserve"]
    assert missing == [
        "mesh-onnx: no cluster-internal URL for --in-cluster (its modelmesh runtime ovms-1.x has no REST "
        "endpoint to load); give --target mesh-onnx=URL"
    ]
