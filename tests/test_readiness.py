"""Readiness gates: registered per model under mocks, the setting's refusals, and the verdicts and the wait
on API objects as the serving systems write them.

The objects are the ones the test bed's stand-ins render from their upstream sources (the operator's
chart, KServe's and Seldon's status rules, the kubelet's Pod statuses; see testbed/standins.py), plus
Deployment statuses as kube-controller-manager writes them; no cluster is involved.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.config import ConfigError
from components.readiness import TYPE as READINESS
from components.readiness import provider, verdicts
from components.readiness.provider import ModelNotReady, wait
from testbed import kubelet, ovms_chart, standins
from tests.test_program import APPLICATION, SECRETS, SEED_EXAMPLE, plan_raw

NS = "serving"


# --- registration under mocks ---------------------------------------------------------------------------


def models(**extra: Any) -> list[dict[str, Any]]:
    return [
        {"app_name": "resnet", "model": "gs://bucket/resnet", "format": "openvino", **extra},
        {"app_name": "iris", "model": "gs://bucket/iris", "format": "sklearn", "backend": "kserve", **extra},
        {"app_name": "wine", "model": "s3://bucket/wine", "format": "sklearn", "backend": "seldon", **extra},
    ]


def test_with_registration_each_application_waits_for_its_model_and_there_is_no_other_gate() -> None:
    result = plan_raw({**SEED_EXAMPLE, "namespace": NS, "models": models(ready_timeout_s=30)}, SECRETS)
    assert result.of_type(READINESS) == []
    apps = {a.inputs["name"]: a for a in result.of_type(APPLICATION)}
    assert {
        app: (
            a.inputs["readiness"]["backend"],
            a.inputs["readiness"]["name"],
            a.inputs["readiness"]["namespace"],
        )
        for app, a in apps.items()
    } == {
        "resnet": ("ovms", "ovms-resnet", NS),
        "iris": ("kserve", "iris", NS),
        "wine": ("seldon", "wine", NS),
    }
    assert {a.inputs["readiness"]["timeout_s"] for a in apps.values()} == {30}
    by_urn = {r.urn: r for r in result.resources}
    for app, application in apps.items():
        # Its own URN, computed for the status line, is the one the engine gives it.
        assert application.inputs["status_urn"] == application.urn, app
        # After the model's server object (and route), whose `<uid>/<generation>` it watches (the mocks
        # give objects neither).
        assert any(by_urn[d].name == f"{app}-server" for d in application.dependencies), app
        assert application.inputs["readiness"]["revision"] == "/", app
        assert result.outputs["serving"][app]["readiness"] == "checked"
    assert apps["resnet"].inputs.get("kubeconfig") is None  # existing mode: the ambient credentials


def test_without_registration_one_gate_waits_for_every_model_after_all_their_objects() -> None:
    raw = {
        **SEED_EXAMPLE,
        "namespace": NS,
        "fuseml": {"register": False},
        "models": models(ready_timeout_s=30),
    }
    result = plan_raw(raw, SECRETS)
    assert result.of_type(APPLICATION) == []
    (gate,) = result.of_type(READINESS)
    # The engine leaves the root stack out of a top-level resource's URN (pulumi sdk/go/common/resource/urn
    # urn.go New: `parentType != tokens.RootStackType`); the mocks put it in.
    assert gate.name == "models-ready"
    assert gate.inputs["status_urn"] == gate.urn.replace("pulumi:pulumi:Stack$", "")
    assert {app: (s["backend"], s["name"], s["timeout_s"]) for app, s in gate.inputs["models"].items()} == {
        "resnet": ("ovms", "ovms-resnet", 30),
        "iris": ("kserve", "iris", 30),
        "wine": ("seldon", "wine", 30),
    }
    after = {r.name for r in result.resources if r.urn in gate.dependencies}
    assert {"resnet-server", "resnet-route", "iris-server", "wine-server"} <= after
    assert result.outputs["serving"]["wine"]["readiness"] == "checked"


def test_ready_timeout_zero_waits_for_nothing_and_the_output_says_so() -> None:
    result = plan_raw({**SEED_EXAMPLE, "models": models(ready_timeout_s="0")}, SECRETS)
    assert result.of_type(READINESS) == []
    apps = result.of_type(APPLICATION)
    assert len(apps) == 3 and all(a.inputs.get("readiness") is None for a in apps)
    serving = result.outputs["serving"]["iris"]
    assert (serving["ready_timeout_s"], serving["readiness"]) == (0, "not checked (ready_timeout_s 0)")
    assert "ready_at" not in serving
    off = plan_raw(
        {**SEED_EXAMPLE, "fuseml": {"register": False}, "models": models(ready_timeout_s=0)}, SECRETS
    )
    assert off.of_type(READINESS) == []


def test_models_of_a_shared_server_each_wait_for_the_servers_deployment() -> None:
    raw = {
        **SEED_EXAMPLE,
        "servers": [{"name": "shared"}],
        "models": [
            {
                "app_name": f"m{i}",
                "model": f"gs://bucket/m{i}",
                "format": "onnx",
                "server": "shared",
                "model_name": f"m{i}",
            }
            for i in range(2)
        ],
    }
    result = plan_raw(raw)
    apps = result.of_type(APPLICATION)
    assert sorted((a.inputs["name"], a.inputs["readiness"]["name"]) for a in apps) == [
        ("m0", "ovms-shared"),
        ("m1", "ovms-shared"),
    ]
    (gate,) = plan_raw({**raw, "fuseml": {"register": False}}).of_type(READINESS)
    assert {app: s["name"] for app, s in gate.inputs["models"].items()} == {
        "m0": "ovms-shared",
        "m1": "ovms-shared",
    }


def test_in_create_mode_the_wait_gets_the_clusters_kubeconfig_as_a_secret() -> None:
    raw = {**SEED_EXAMPLE, "cluster": {"mode": "create", "project": "p", "location": "europe-central2"}}
    (application,) = plan_raw(raw).of_type(APPLICATION)
    assert "gke-gcloud-auth-plugin" in application.inputs["kubeconfig"]
    assert ("kubeconfig",) in application.secret_paths
    (gate,) = plan_raw({**raw, "fuseml": {"register": False}}).of_type(READINESS)
    assert "gke-gcloud-auth-plugin" in gate.inputs["kubeconfig"]
    assert ("kubeconfig",) in gate.secret_paths
    assert "kubeconfig" in gate.additional_secret_outputs


@pytest.mark.parametrize("value", [-1, "-5", 1.5, "ten", 86401, True, "1e3"])
def test_a_bad_ready_timeout_is_refused_naming_the_key(value: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        plan_raw({**SEED_EXAMPLE, "models": [{**SEED_EXAMPLE["models"][0], "ready_timeout_s": value}]})
    message = str(raised.value)
    assert "models[0].ready_timeout_s" in message
    assert "whole seconds from 0 (do not wait) to 86400" in message


@pytest.mark.parametrize(("value", "read"), [(0, 0), ("600", 600), (86400.0, 86400), (" 12 ", 12)])
def test_a_ready_timeout_is_read_as_whole_seconds(value: Any, read: int) -> None:
    raw = {**SEED_EXAMPLE, "models": [{**SEED_EXAMPLE["models"][0], "ready_timeout_s": value}]}
    assert plan_raw(raw).outputs["serving"]["resnet50-ovms"]["ready_timeout_s"] == read


# --- the objects ---------------------------------------------------------------------------------------


class Recorded:
    """A Reader over objects held in memory, keyed by kind and name; counts the calls."""

    def __init__(self, objects: list[dict[str, Any]], logs: dict[tuple[str, str], str] | None = None) -> None:
        self.objects = objects
        self.logs = logs or {}
        self.calls = 0

    def get(self, kind: tuple[str, str, str], name: str) -> dict[str, Any] | None:
        self.calls += 1
        return next(
            (
                copy.deepcopy(o)
                for o in self.objects
                if o["kind"] == kind[2] and o["metadata"]["name"] == name
            ),
            None,
        )

    def list(self, kind: tuple[str, str, str], labels: dict[str, str]) -> list[dict[str, Any]]:
        self.calls += 1
        return [
            copy.deepcopy(o)
            for o in self.objects
            if o["kind"] == kind[2]
            and all((o["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
        ]

    def log(self, pod: str, container: str, lines: int) -> str:
        return self.logs.get((pod, container), "")


def model_server(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "intel.com/v1alpha1",
        "kind": "ModelServer",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "generation": 1},
        "spec": {
            "image_name": "openvino/model_server:2026.2",
            "deployment_parameters": {"replicas": 1},
            "service_parameters": {"grpc_port": 8080, "rest_port": 8081, "service_type": "ClusterIP"},
            "models_settings": {"single_model_mode": True, "model_name": "m", "model_path": "gs://b/m"},
            "server_settings": {"log_level": "INFO"},
            "models_repository": {"storage_type": "google"},
        },
    }


def with_status(deployment: dict[str, Any], available: int, *, generation: int = 1) -> dict[str, Any]:
    """A Deployment as kube-controller-manager reports it: one replica updated, `available` of it up."""
    found = copy.deepcopy(deployment)
    found["metadata"].update(namespace=NS, uid="dep-uid", generation=generation)
    condition = (
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
         "message": "Deployment has minimum availability."}
        if available
        else {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
              "message": "Deployment does not have minimum availability."}
    )  # fmt: skip
    found["status"] = {
        "observedGeneration": generation,
        "replicas": 1,
        "updatedReplicas": 1,
        "readyReplicas": available,
        "availableReplicas": available,
        "conditions": [condition],
    }
    if not available:
        found["status"]["unavailableReplicas"] = 1
    return found


def pod_of(
    deployment: dict[str, Any], fault: dict[str, Any] | None, suffix: str = "7d9f-x1"
) -> dict[str, Any]:
    template = deployment["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{deployment['metadata']['name']}-{suffix}",
            "namespace": NS,
            "uid": "pod-uid",
            "labels": dict(template["metadata"]["labels"]),
        },
        "spec": copy.deepcopy(template["spec"]),
    }
    pod["status"] = kubelet.failed_status(pod, fault) if fault else kubelet.running_status(pod)
    return pod


def ovms(available: bool, fault: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    cr = model_server("ovms-resnet")
    deployment = with_status(ovms_chart.render(cr)[0], int(available))
    return [cr, deployment, pod_of(deployment, fault)]


OVMS_LOG = "[error][modelmanager.cpp:1127] No version found for model in path: gs://b/m"


def test_ovms_is_ready_when_the_operators_deployment_rolled_out() -> None:
    verdict = verdicts.judge("ovms", Recorded(ovms(True)), "ovms-resnet")
    assert verdict.ready and verdict.waiting == "Deployment ovms-resnet: 1/1 replicas ready"


def test_ovms_crash_loop_is_explained_with_the_servers_log() -> None:
    objects = ovms(False, {"fail": "CrashLoopBackOff"})
    pod = objects[2]["metadata"]["name"]
    reader = Recorded(objects, {(pod, "ovms"): f"starting\n{OVMS_LOG}\n"})
    verdict = verdicts.judge("ovms", reader, "ovms-resnet")
    assert not verdict.ready
    why = verdicts.explain(reader, verdict)
    assert why.startswith(
        "Deployment ovms-resnet: 0/1 replicas ready; pod ovms-resnet-7d9f-x1: container ovms "
    )
    assert "CrashLoopBackOff (back-off 40s restarting failed container=ovms pod=ovms-resnet-7d9f-x1_" in why
    assert why.endswith(f"log of {pod}/ovms: starting | {OVMS_LOG}")


def test_an_image_that_cannot_be_pulled_is_explained_without_a_log() -> None:
    objects = ovms(False, {"fail": "ImagePullBackOff"})
    verdict = verdicts.judge("ovms", Recorded(objects), "ovms-resnet")
    why = verdicts.explain(Recorded(objects), verdict)
    assert 'container ovms ImagePullBackOff (Back-off pulling image "openvino/model_server:2026.2")' in why
    assert "log of" not in why


def test_an_unschedulable_pod_is_explained_in_the_schedulers_words() -> None:
    objects = ovms(False, {"fail": "Unschedulable"})
    why = verdicts.explain(Recorded(objects), verdicts.judge("ovms", Recorded(objects), "ovms-resnet"))
    assert f"pod ovms-resnet-7d9f-x1: (Unschedulable: {kubelet.UNSCHEDULABLE_MESSAGE})" in why


def test_ovms_before_the_operator_rendered_and_after_the_model_server_was_deleted() -> None:
    cr = model_server("ovms-resnet")
    cr["status"] = {"conditions": [{"type": "Deployed", "status": "False", "reason": "InstallError",
                                    "message": "chart ovms: image_name is required"}]}  # fmt: skip
    verdict = verdicts.judge("ovms", Recorded([cr]), "ovms-resnet")
    assert not verdict.ready and not verdict.gone
    assert "Deployed=False (InstallError: chart ovms: image_name is required)" in verdict.waiting
    assert verdicts.judge("ovms", Recorded([]), "ovms-resnet").gone == "ModelServer ovms-resnet was deleted"


def test_a_rollout_in_progress_is_not_ready() -> None:
    deployment = with_status(ovms_chart.render(model_server("ovms-resnet"))[0], 1)
    deployment["metadata"]["generation"] = 2  # the new spec not yet observed
    assert verdicts.rollout(deployment) == (
        False, "Deployment ovms-resnet: waiting for its spec update to be observed"
    )  # fmt: skip
    deployment = with_status(deployment, 1, generation=2)
    deployment["status"]["replicas"] = 2  # the old replica still there
    assert verdicts.rollout(deployment)[1] == "Deployment ovms-resnet: 1 old replicas pending termination"


def isvc(ready: bool, fault: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    cr = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "iris", "namespace": NS, "uid": "isvc-uid", "generation": 1},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://b/iris"}}},
    }
    deployment = with_status(
        standins.kserve_objects(cr, False, "kserve/sklearnserver:v0.20.0")[0], int(ready)
    )
    pod = pod_of(deployment, fault)
    cr["status"] = standins.kserve_status(cr, False, deployment, [pod])
    return [cr, deployment, pod]


def test_kserve_ready_is_the_ready_condition_of_the_current_generation() -> None:
    objects = isvc(True)
    assert verdicts.judge("kserve", Recorded(objects), "iris").ready
    objects[0]["metadata"]["generation"] = 2  # a new spec KServe has not reconciled yet
    verdict = verdicts.judge("kserve", Recorded(objects), "iris")
    assert not verdict.ready and "waiting for KServe to reconcile its spec" in verdict.waiting


def test_kserve_failure_says_the_condition_the_model_status_and_the_log() -> None:
    objects = isvc(False, {"fail": "CrashLoopBackOff"})
    pod = objects[2]["metadata"]["name"]
    reader = Recorded(
        objects, {(pod, "kserve-container"): "ValueError: no model file found in /mnt/models\n"}
    )
    verdict = verdicts.judge("kserve", reader, "iris")
    why = verdicts.explain(reader, verdict)
    assert why.startswith(
        "InferenceService iris: Ready=False (MinimumReplicasUnavailable: Deployment does not have minimum "
        "availability.); model BlockedByFailedLoad (target FailedToLoad, active Pending); last failure "
        "ModelLoadFailed"
    )
    assert why.endswith(f"log of {pod}/kserve-container: ValueError: no model file found in /mnt/models")


def test_modelmesh_needs_ready_and_the_model_loaded() -> None:
    cr = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
          "metadata": {"name": "mm", "namespace": NS, "uid": "0123456789abc", "generation": 1}}  # fmt: skip
    loaded = {**cr, "status": standins.modelmesh_status(cr, None)}
    assert verdicts.judge("modelmesh", Recorded([loaded]), "mm").ready
    # Right after an update, ModelMesh's status (no observedGeneration) may still be the old spec's.
    assert not verdicts.judge("modelmesh", Recorded([loaded]), "mm", settled=False).ready
    failed = {**cr, "status": standins.modelmesh_status(cr, {"message": "failed to load: no model files"})}
    verdict = verdicts.judge("modelmesh", Recorded([failed]), "mm")
    assert not verdict.ready and verdict.pods is None
    assert verdicts.explain(Recorded([failed]), verdict) == (
        "InferenceService mm: Ready=False; model BlockedByFailedLoad (target -, active FailedToLoad); "
        "last failure ModelLoadFailed: failed to load: no model files"
    )


def seldon(available: bool, fault: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    cr = {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "wine", "namespace": NS, "uid": "sdep-uid", "generation": 1},
        "spec": {"predictors": [{"name": "default", "replicas": 1,
                                 "graph": {"name": "wine", "implementation": "SKLEARN_SERVER"}}]},
    }  # fmt: skip
    deployment = with_status(standins.seldon_deployments(cr)[0], int(available))
    if fault and not available:
        replica_set = f"{deployment['metadata']['name']}-5c8"
        deployment["status"]["conditions"].append({
            "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
            "message": f'ReplicaSet "{replica_set}" has timed out progressing.'})  # fmt: skip
    cr["status"] = standins.seldon_status(cr, [deployment])
    return [cr, deployment, pod_of(deployment, fault)]


def test_seldon_ready_is_available_with_its_deployments_rolled_out() -> None:
    assert verdicts.judge("seldon", Recorded(seldon(True)), "wine").ready
    objects = seldon(False, {"fail": "CrashLoopBackOff", "log": "x"})
    pod = objects[2]["metadata"]["name"]
    reader = Recorded(objects, {(pod, "wine"): "ModuleNotFoundError: No module named 'sklearn'\n"})
    verdict = verdicts.judge("seldon", reader, "wine")
    why = verdicts.explain(reader, verdict)
    assert why.startswith(
        "SeldonDeployment wine: state Failed (Deployment is no longer progressing and not available.); "
        "Ready=False (MinimumReplicasUnavailable: Deployment does not have minimum availability.); "
        "Deployment wine-default-0-wine: exceeded its progress deadline"
    )
    assert why.endswith(f"log of {pod}/wine: ModuleNotFoundError: No module named 'sklearn'")


# --- the wait ------------------------------------------------------------------------------------------


class Clock:
    """A clock the wait's sleeps move on."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


PROPS = {"app": "resnet", "backend": "ovms", "namespace": NS, "name": "ovms-resnet", "timeout_s": 10}


class Becoming(Recorded):
    """Not ready, then ready from the `after`-th look at the Deployment on."""

    def __init__(self, after: int) -> None:
        super().__init__(ovms(False, {"fail": "CrashLoopBackOff"}))
        self.after, self.looks = after, 0

    def get(self, kind: tuple[str, str, str], name: str) -> dict[str, Any] | None:
        if kind == verdicts.DEPLOYMENTS:
            self.looks += 1
            if self.looks >= self.after:
                self.objects = ovms(True)
        return super().get(kind, name)


def test_the_wait_returns_when_ready_with_when_and_how_long() -> None:
    clock = Clock()
    outputs = wait(PROPS, reader=Becoming(4), clock=clock, sleep=clock.sleep)
    assert outputs["ready_after_s"] == 3.0 and outputs["ready_at"].endswith("Z")
    assert outputs["seen"] == {"uid": "dep-uid", "generation": 1}
    assert "kubeconfig" not in outputs


def test_the_wait_fails_at_its_bound_with_the_explanation() -> None:
    clock = Clock()
    with pytest.raises(ModelNotReady) as raised:
        wait(
            PROPS, reader=Recorded(ovms(False, {"fail": "ImagePullBackOff"})), clock=clock, sleep=clock.sleep
        )
    assert clock.now == 10
    assert str(raised.value).startswith(
        "app resnet (backend ovms) is not ready after 10 s (ready_timeout_s): Deployment ovms-resnet: 0/1 "
        "replicas ready; pod ovms-resnet-7d9f-x1: container ovms ImagePullBackOff"
    )


def test_a_model_deleted_while_waiting_fails_at_once_saying_so() -> None:
    clock = Clock()
    with pytest.raises(ModelNotReady) as raised:
        wait(PROPS, reader=Recorded([]), clock=clock, sleep=clock.sleep)
    assert clock.now == 0
    assert str(raised.value) == (
        "app resnet (backend ovms): ModelServer ovms-resnet was deleted while waiting for it to become ready "
        "(deleted by hand?); `pulumi refresh` then `pulumi up` recreates it"
    )


class Unreachable(Recorded):
    def get(self, kind: tuple[str, str, str], name: str) -> dict[str, Any] | None:
        self.calls += 1
        raise ConnectionRefusedError(111, "Connection refused")


def test_an_unreachable_api_server_is_retried_within_the_bound_then_one_clear_error() -> None:
    clock = Clock()
    reader = Unreachable([])
    with pytest.raises(ModelNotReady) as raised:
        wait(PROPS, reader=reader, clock=clock, sleep=clock.sleep)
    assert reader.calls == 11  # one look a second for 10 s, and one at the bound
    assert str(raised.value) == (
        "app resnet (backend ovms): the API server could not be reached for the last 10 s of the 10 s wait "
        "(ready_timeout_s): [Errno 111] Connection refused"
    )


def test_after_an_update_an_unchanged_deployment_counts_only_once_settled() -> None:
    clock = Clock()
    seen = {"uid": "dep-uid", "generation": 1}  # the Deployment the last ready look saw
    outputs = wait(
        PROPS, updating=True, seen=seen, reader=Recorded(ovms(True)), clock=clock, sleep=clock.sleep
    )
    assert outputs["ready_after_s"] == verdicts.SETTLE_S
    clock = Clock()
    moved = {"uid": "dep-uid", "generation": 0}
    outputs = wait(
        PROPS, updating=True, seen=moved, reader=Recorded(ovms(True)), clock=clock, sleep=clock.sleep
    )
    assert outputs["ready_after_s"] == 0


SPEC = {k: v for k, v in PROPS.items() if k != "app"}


def test_a_no_op_diff_makes_no_call_and_only_a_new_spec_or_model_waits_again() -> None:
    gate = provider.ReadinessProvider()
    olds = {"models": {"resnet": {**SPEC, "revision": "uid/1"}}, "ready": {"resnet": {"ready_after_s": 3.0}}}
    assert not gate.diff(
        "id", olds, {"models": {"resnet": {**SPEC, "revision": "uid/1", "timeout_s": 99.0}}}
    ).changes
    assert gate.diff("id", olds, {"models": {"resnet": {**SPEC, "revision": "uid/2"}}}).changes
    assert gate.diff("id", olds, {"models": {"resnet": {**SPEC, "revision": "uid/1"}, "iris": SPEC}}).changes
    assert gate.diff("id", olds, {"models": {}}).changes
    news = {"models": {"resnet": {**SPEC, "timeout_s": 0, "backend": "triton"}, "iris": {"name": "iris"}}}
    failures = gate.check({}, news).failures
    assert sorted(f.property for f in failures) == [
        "models.iris.backend", "models.iris.namespace", "models.iris.timeout_s",
        "models.resnet.backend", "models.resnet.timeout_s",
    ]  # fmt: skip
    assert [f.reason for f in gate.check({}, {"models": {}}).failures] == [
        "'models' must name at least one model"
    ]
    assert [f.property for f in gate.check({}, {"models": {"a": {**SPEC, "extra": 1}}}).failures] == [
        "models.a.extra"
    ]


def test_an_update_waits_only_for_new_and_changed_models_and_keeps_the_others_last_look(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []

    def fake_wait_all(models: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        calls.append((sorted(models), sorted(kwargs["updating"]), kwargs["seen"]))
        return {app: {"ready_at": "now", "ready_after_s": 1.0, "seen": {}} for app in models}

    monkeypatch.setattr(provider, "wait_all", fake_wait_all)
    gate = provider.ReadinessProvider()
    last = {"ready_at": "then", "ready_after_s": 2.0, "seen": {"uid": "d", "generation": 1}}
    olds = {
        "models": {"same": {**SPEC, "revision": "u/1"}, "moved": {**SPEC, "revision": "u/1"}, "gone": SPEC},
        "ready": {"same": last, "moved": last, "gone": last},
    }
    news = {
        "models": {"same": {**SPEC, "revision": "u/1"}, "moved": {**SPEC, "revision": "u/2"}, "new": SPEC}
    }
    outs = gate.update("models", olds, news).outs
    assert calls == [(["moved", "new"], ["moved"], {"moved": last["seen"]})]
    waited = {"ready_at": "now", "ready_after_s": 1.0, "seen": {}}
    assert outs["ready"] == {"same": last, "moved": waited, "new": waited}


def test_every_model_waits_within_its_own_bound_at_once_and_each_failure_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    readers = {
        "good": Becoming(4),
        "pull": Recorded(ovms(False, {"fail": "ImagePullBackOff"})),
        "gone": Recorded([]),
    }
    monkeypatch.setattr(provider.Watch, "reader", property(lambda watch: readers[watch.props["app"]]))
    models = {app: {**PROPS, "app": app} for app in readers}
    with pytest.raises(ModelNotReady) as raised:
        provider.wait_all(models, clock=clock, sleep=clock.sleep)
    # The bounds ran at once: ten seconds in all, not one model's after another's.
    assert clock.now == 10
    pull, gone = str(raised.value).splitlines()
    assert pull.startswith("app pull (backend ovms) is not ready after 10 s") and "ImagePullBackOff" in pull
    assert gone.startswith("app gone (backend ovms): ModelServer ovms-resnet was deleted while waiting")
    # The one that became ready (on its fourth look) was not waited for further and is not named.
    assert "app good" not in str(raised.value)


# --- the step --------------------------------------------------------------------------------------------


def test_the_step_says_when_the_model_became_ready_or_that_it_was_not_checked() -> None:
    from step.runner import readiness

    entry = {"backend": "kserve", "readiness": "checked", "ready_at": "2026-05-01T10:00:03Z"}
    checked = {"serving": {"iris": {**entry, "ready_after_s": 2.5}}}
    assert (
        readiness(checked, "iris")
        == "iris (kserve): ready at 2026-05-01T10:00:03Z, 2.5 s after its objects were applied"
    )
    unchecked = {"serving": {"iris": {"backend": "kserve", "readiness": "not checked (ready_timeout_s 0)"}}}
    assert readiness(unchecked, "iris") == "iris: readiness not checked (ready_timeout_s 0)"


def test_the_steps_failure_is_the_gates_own_line_per_model() -> None:
    from pulumi import automation as auto

    from step.runner import classify

    line = "app iris (backend kserve) is not ready after 8 s (ready_timeout_s): InferenceService iris: ..."
    engine_output = (
        f" +  pulumi-python:dynamic:Readiness iris-ready creating (8s) error: {line}\n"
        f"  pulumi-python:dynamic:Readiness (iris-ready):\n    error: {line}\n    error: update failed\n"
    )
    err = auto.CommandError(auto.CommandResult(stdout=engine_output, stderr="error: update failed", code=255))
    assert str(classify(err, "pulumi up failed")) == line
    # The stack's gate (registration off): every unready model in one error, the others on lines of their
    # own, as the CLI 3.274.0 prints a multi-line provider error under the resource.
    other = "app pull (backend ovms) is not ready after 8 s (ready_timeout_s): Deployment ovms-pull: ..."
    engine_output = (
        f" +  pulumi-python:dynamic:Readiness models-ready **creating failed** error: {line}\n"
        f"  pulumi-python:dynamic:Readiness (models-ready):\n    error: {line}\n    {other}\n\n"
    )
    err = auto.CommandError(auto.CommandResult(stdout=engine_output, stderr="error: update failed", code=255))
    assert str(classify(err, "pulumi up failed")).splitlines() == [line, other]


# --- hostile inputs to the providers' check ----------------------------------------------------------------


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
SPECS = st.fixed_dictionaries({}, optional={key: JSON for key in (*provider.SPEC_KEYS, "extra")}) | JSON


@settings(max_examples=300, deadline=None)
@given(models=st.dictionaries(st.text(max_size=6), SPECS, max_size=3) | JSON, kubeconfig=JSON, urn=JSON)
def test_the_gates_check_refuses_any_bad_input_with_failures_never_an_exception(
    models: Any, kubeconfig: Any, urn: Any
) -> None:
    result = provider.ReadinessProvider().check(
        {}, {"models": models, "kubeconfig": kubeconfig, "status_urn": urn}
    )
    for failure in result.failures:
        assert failure.property.split(".")[0] in ("models", "kubeconfig", "status_urn")
    if not result.failures:
        # What passed is a usable gate: a map of specs a wait can take.
        for app, spec in result.inputs["models"].items():
            props = provider.wait_props(app, spec, result.inputs.get("kubeconfig"), None)
            assert app and props["backend"] in provider.BACKENDS and isinstance(props["timeout_s"], int)


@settings(max_examples=200, deadline=None)
@given(spec=SPECS, kubeconfig=JSON)
def test_the_applications_check_refuses_a_bad_readiness_with_failures_never_an_exception(
    spec: Any, kubeconfig: Any
) -> None:
    from fuseml.provider import ApplicationProvider

    news = {
        "server_url": "http://fuseml.example", "name": "a", "url": "http://a.example/p", "workflow": "w",
        "owner": "fuseml-serving/dev", "k8s_namespace": "ns", "readiness": spec, "kubeconfig": kubeconfig,
    }  # fmt: skip
    result = ApplicationProvider().check({}, news)
    for failure in result.failures:
        assert failure.property.split(".")[0] in ("readiness", "kubeconfig")
