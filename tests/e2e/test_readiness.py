"""Readiness gates under the real CLI, provider and dynamic provider host, with the controller stand-ins.

For each backend: a ready model is deployed and registered; one whose Pods fail (the kubelet stand-in's
fault switch: CrashLoopBackOff with the server's log line, ImagePullBackOff) or whose model fails to load
fails `pulumi up` within its `ready_timeout_s` plus 30 s, naming the app, the reason and the log line,
with no traceback, and FuseML has no Application for it; once the cause is fixed the next `up`
completes without replacing the ready one; and an update whose new Pods never become ready (or whose
new model never loads) fails the `up` and leaves the old registration. With registration off, the
stack's one gate names every unready model, each within its own bound.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from testbed import kubelet
from testbed.cluster import Cluster
from testbed.engine import Engine
from tests.e2e import stacks
from tests.fuseml_server import FakeFuseML

pytestmark = pytest.mark.timeout(600)

TIMEOUT_S = 8
#: What OVMS logs when the model path holds no version folder (model_server src/modelmanager.cpp).
OVMS_LOG = "[error][modelmanager.cpp:1127] No version found for model in path: gs://models/bad"
KSERVE_LOG = "ValueError: no model file found in /mnt/models"
IMAGE = "openvino/model_server:2024.0"


def model(app: str, **extra: Any) -> dict[str, Any]:
    entry = {"app_name": app, "format": "openvino", "model": f"gs://models/{app}"}
    return {**entry, "ready_timeout_s": TIMEOUT_S, **extra}


def failed_up(engine: Engine, stack: str) -> tuple[str, float]:
    started = time.monotonic()
    run = engine.run("up", "--stack", stack, "--yes", "--skip-preview", check=False, timeout=300)
    elapsed = time.monotonic() - started
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert "Traceback" not in output, output
    return output, elapsed


def failure_line(output: str, app: str, backend: str) -> str:
    """The engine's line saying why `app` is not ready; the test fails when there is none."""
    found = [line for line in output.splitlines() if f"app {app} (backend {backend})" in line]
    assert found, output
    return found[0]


def failed_update_keeps_the_record(
    engine: Engine,
    cluster: Cluster,
    fuseml: FakeFuseML,
    stack: str,
    app: str,
    backend: str,
    faults: list[dict[str, Any]],
    config: dict[str, Any],
) -> str:
    """Update the stack to `config` with the kubelet's `faults` on: the `up` fails naming `app`, and FuseML
    keeps `app`'s record as it was. Returns the failure line; the faults are cleared after."""
    before = dict(fuseml.store[app])
    kubelet.set_faults(cluster.dir, faults)
    stacks.write_stack(engine, stack, config)
    output, _ = failed_up(engine, stack)
    line = failure_line(output, app, backend)
    assert fuseml.store[app] == before
    kubelet.set_faults(cluster.dir, [])
    return line


def test_ovms_ready_model_registered_failing_one_explained_then_fixed_then_a_failed_update_keeps_the_old(
    engine: Engine, cluster: Cluster, namespace: str, fuseml: FakeFuseML
) -> None:
    kubelet.set_faults(cluster.dir, [
        {"namespace": namespace, "labels": {"app": "ovms-bad"}, "fail": "CrashLoopBackOff", "log": OVMS_LOG},
    ])  # fmt: skip
    config = stacks.settings(namespace, [model("good"), model("bad")], fuseml_url=fuseml.url)
    stacks.new_stack(engine, "ovms", config)
    output, elapsed = failed_up(engine, "ovms")
    assert elapsed < TIMEOUT_S + 30, elapsed
    line = failure_line(output, "bad", "ovms")
    assert f"is not ready after {TIMEOUT_S} s" in line, line
    assert "CrashLoopBackOff" in line and OVMS_LOG in line, line
    assert "Deployment ovms-bad: 0/1 replicas ready" in line or "0 of 1" in line or "0/1" in line, line
    assert "app good" not in output, output
    assert set(fuseml.store) == {"good"}

    kubelet.set_faults(cluster.dir, [])
    out = stacks.up(engine, "ovms")
    assert set(fuseml.store) == {"good", "bad"}
    # The ready model's gate and registration are left as they were: only the failed one is completed.
    touched = [line for line in out.splitlines() if "created" in line or "updated" in line]
    assert not [line for line in touched if "good-" in line], touched
    serving = stacks.outputs(engine, "ovms")["serving"]
    assert serving["bad"]["ready_timeout_s"] == TIMEOUT_S and serving["bad"]["ready_at"]
    stacks.up(engine, "ovms", "--expect-no-changes")

    # An update whose new Pods cannot pull their image: the old Pod keeps serving, the update fails, and
    # FuseML keeps the record of the old model.
    faults = [
        {"namespace": namespace, "labels": {"app": "ovms-good"}, "image": IMAGE, "fail": "ImagePullBackOff"}
    ]
    updated = model("good", model="gs://models/good-v2", ovms_image_tag="2024.0")
    updated_config = {**config, "models": [updated, model("bad")]}
    line = failed_update_keeps_the_record(
        engine, cluster, fuseml, "ovms", "good", "ovms", faults, updated_config
    )
    assert "ImagePullBackOff" in line and IMAGE in line, line
    engine.run("destroy", "--stack", "ovms", "--yes", "--skip-preview", timeout=300)


def test_kserve_failing_model_explained_and_ready_one_registered(
    engine: Engine, cluster: Cluster, namespace: str, fuseml: FakeFuseML
) -> None:
    kubelet.set_faults(cluster.dir, [
        {"namespace": namespace, "labels": {"serving.kserve.io/inferenceservice": "bad-iris"},
         "fail": "CrashLoopBackOff", "log": KSERVE_LOG},
    ])  # fmt: skip
    models = [
        {"app_name": name, "backend": "kserve", "format": "sklearn", "model": f"gs://models/{name}",
         "ready_timeout_s": TIMEOUT_S}
        for name in ("iris", "bad-iris")
    ]  # fmt: skip
    config = stacks.settings(namespace, models, fuseml_url=fuseml.url)
    stacks.new_stack(engine, "kserve", config)
    output, _ = failed_up(engine, "kserve")
    line = failure_line(output, "bad-iris", "kserve")
    assert "InferenceService bad-iris: Ready=False" in line, line
    assert "CrashLoopBackOff" in line and KSERVE_LOG in line, line
    assert set(fuseml.store) == {"iris"}
    kubelet.set_faults(cluster.dir, [])
    stacks.up(engine, "kserve")
    assert set(fuseml.store) == {"iris", "bad-iris"}

    # An update whose new Pod asks for more CPU than any node has: the scheduler cannot place it, the old
    # Pod keeps serving (Knative keeps the old revision), the update fails and FuseML keeps the old record.
    faults = [
        {
            "namespace": namespace,
            "labels": {"serving.kserve.io/inferenceservice": "iris"},
            "fail": "Unschedulable",
        }
    ]
    bigger = {**models[0], "resources": {"requests": {"cpu": "64"}}}
    updated_config = stacks.settings(namespace, [bigger, models[1]], fuseml_url=fuseml.url)
    line = failed_update_keeps_the_record(
        engine, cluster, fuseml, "kserve", "iris", "kserve", faults, updated_config
    )
    assert "Ready=Unknown" in line and "Unschedulable" in line, line
    engine.run("destroy", "--stack", "kserve", "--yes", "--skip-preview", timeout=300)


SECRETS = {"aws_access_key_id": "AKIAE2EREADINESS0001", "aws_secret_access_key": "e2e-readiness-Never-Shown"}


def s3_stack(engine: Engine, stack: str, config: dict[str, Any]) -> None:
    stacks.new_stack(engine, stack, config)
    for key, value in SECRETS.items():
        engine.set_config(stack, f"fuseml-serving:{key}", value, secret=True)


def test_seldon_failing_model_explained_and_ready_one_registered(
    engine: Engine, cluster: Cluster, namespace: str, fuseml: FakeFuseML
) -> None:
    log = "ModuleNotFoundError: No module named 'sklearn'"
    kubelet.set_faults(cluster.dir, [
        {"namespace": namespace, "labels": {"seldon-deployment-id": "bad-wine"}, "fail": "CrashLoopBackOff",
         "log": log},
    ])  # fmt: skip
    models = [
        {"app_name": name, "backend": "seldon", "format": "sklearn", "model": f"s3://models/{name}",
         "ready_timeout_s": TIMEOUT_S}
        for name in ("wine", "bad-wine")
    ]  # fmt: skip
    s3_stack(engine, "seldon", stacks.settings(namespace, models, fuseml_url=fuseml.url))
    output, elapsed = failed_up(engine, "seldon")
    assert elapsed < TIMEOUT_S + 30, elapsed
    line = failure_line(output, "bad-wine", "seldon")
    assert "SeldonDeployment bad-wine: state Creating" in line, line
    assert "CrashLoopBackOff" in line and log in line, line
    assert set(fuseml.store) == {"wine"}
    kubelet.set_faults(cluster.dir, [])
    stacks.up(engine, "seldon")
    assert set(fuseml.store) == {"wine", "bad-wine"}

    # An update whose new Pods cannot pull their image (a runtime_version that does not exist): the old
    # Pod keeps serving, Seldon says Creating (not Failed, before the progress deadline), the update fails
    # and FuseML keeps the old record. Seldon writes no observedGeneration: the verdict waits for the
    # Deployment to move on (verdicts.SETTLE_S), so the old Available cannot pass the new spec.
    image = "seldonio/mlserver:0.0.0-missing"
    faults = [
        {"namespace": namespace, "labels": {"seldon-deployment-id": "wine"}, "image": image,
         "fail": "ImagePullBackOff"},
    ]  # fmt: skip
    updated = [{**models[0], "runtime_version": "0.0.0-missing"}, models[1]]
    updated_config = stacks.settings(namespace, updated, fuseml_url=fuseml.url)
    line = failed_update_keeps_the_record(
        engine, cluster, fuseml, "seldon", "wine", "seldon", faults, updated_config
    )
    assert "ImagePullBackOff" in line and image in line, line
    engine.run("destroy", "--stack", "seldon", "--yes", "--skip-preview", timeout=300)


def test_modelmesh_model_that_fails_to_load_is_explained_and_registered_once_it_loads(
    engine: Engine, cluster: Cluster, namespace: str, fuseml: FakeFuseML
) -> None:
    message = "failed to load model: no model files found under s3://models/bad-mm"
    kubelet.set_faults(cluster.dir, [
        {"namespace": namespace, "labels": {"fuseml/app-name": "bad-mm"}, "fail": "ModelLoadFailed",
         "message": message},
    ])  # fmt: skip
    models = [
        {"app_name": name, "backend": "modelmesh", "format": "sklearn", "model": f"s3://models/{name}",
         "ready_timeout_s": TIMEOUT_S}
        for name in ("mm", "bad-mm")
    ]  # fmt: skip
    s3_stack(engine, "modelmesh", stacks.settings(namespace, models, fuseml_url=fuseml.url))
    output, elapsed = failed_up(engine, "modelmesh")
    assert elapsed < TIMEOUT_S + 30, elapsed
    line = failure_line(output, "bad-mm", "modelmesh")
    assert "InferenceService bad-mm: Ready=False" in line and "BlockedByFailedLoad" in line, line
    assert f"last failure ModelLoadFailed: {message}" in line, line
    assert set(fuseml.store) == {"mm"}
    kubelet.set_faults(cluster.dir, [])
    stacks.up(engine, "modelmesh")
    assert set(fuseml.store) == {"mm", "bad-mm"}

    # An update to a model that fails to load: ModelMesh keeps serving the loaded one while the new one
    # fails, the update fails and FuseML keeps the old record.
    faults = [
        {
            "namespace": namespace,
            "labels": {"fuseml/app-name": "mm"},
            "fail": "ModelLoadFailed",
            "message": message,
        }
    ]
    updated = [{**models[0], "model": "s3://models/mm-v2"}, models[1]]
    updated_config = stacks.settings(namespace, updated, fuseml_url=fuseml.url)
    line = failed_update_keeps_the_record(
        engine, cluster, fuseml, "modelmesh", "mm", "modelmesh", faults, updated_config
    )
    assert f"last failure ModelLoadFailed: {message}" in line, line
    engine.run("destroy", "--stack", "modelmesh", "--yes", "--skip-preview", timeout=300)


def test_without_registration_the_stacks_gate_names_every_unready_model_then_the_fixed_up_completes(
    engine: Engine, cluster: Cluster, namespace: str
) -> None:
    kubelet.set_faults(cluster.dir, [
        {"namespace": namespace, "labels": {"app": "ovms-crash"}, "fail": "CrashLoopBackOff",
         "log": OVMS_LOG},
        {"namespace": namespace, "labels": {"app": "ovms-pull"}, "fail": "ImagePullBackOff"},
    ])  # fmt: skip
    config = stacks.settings(namespace, [model("fine"), model("crash"), model("pull")])  # no FuseML
    stacks.new_stack(engine, "unregistered", config)
    output, elapsed = failed_up(engine, "unregistered")
    # One gate for the stack, whose bounds run at once: both failures within one bound, not two.
    assert elapsed < TIMEOUT_S + 30, elapsed
    crash = failure_line(output, "crash", "ovms")
    assert f"is not ready after {TIMEOUT_S} s" in crash and OVMS_LOG in crash, crash
    pull = failure_line(output, "pull", "ovms")
    assert "ImagePullBackOff" in pull, pull
    assert "app fine" not in output, output

    kubelet.set_faults(cluster.dir, [])
    stacks.up(engine, "unregistered")
    serving = stacks.outputs(engine, "unregistered")["serving"]
    assert {app: bool(entry["ready_at"]) for app, entry in serving.items()} == {
        "fine": True, "crash": True, "pull": True,
    }  # fmt: skip
    stacks.up(engine, "unregistered", "--expect-no-changes")
    engine.run("destroy", "--stack", "unregistered", "--yes", "--skip-preview", timeout=300)
