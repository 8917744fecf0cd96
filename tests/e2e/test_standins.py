"""The controller stand-ins and the kubelet's fault switch on a real control plane (no Pulumi involved).

One cluster with `--stand-ins` serves the module (built from the control plane alone, so these tests run
wherever etcd and kube-apiserver build); objects are created as a user would, straight through the API.
What each stand-in writes is checked against what its upstream controller writes (the rules and their
sources are in testbed/standins.py, testbed/ovms_chart.py and testbed/kubelet.py).
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed import cluster as testbed_cluster
from testbed import kubelet, toolchain
from testbed.cluster import Cluster, _insecure
from testbed.local import prepare_namespace

pytestmark = pytest.mark.timeout(120)
WAIT_S = 45
_names = itertools.count()


@pytest.fixture(scope="module")
def control_plane() -> Path:
    try:
        return toolchain.ensure_control_plane()
    except toolchain.ToolchainError as err:
        pytest.fail(f"the control plane is not available: {err}", pytrace=False)


@pytest.fixture(scope="module")
def cluster(control_plane: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with testbed_cluster.running(
        tmp_path_factory.mktemp("standins"), control_plane, stand_ins=True
    ) as running:
        yield running


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"standins-{next(_names)}"
    prepare_namespace(cluster, name)
    yield name
    kubelet.set_faults(cluster.dir, [])


def wait_for(what: str, probe: Callable[[], Any]) -> Any:
    """Poll probe() until it returns something truthy; fail naming `what` and the last value."""
    deadline = time.monotonic() + WAIT_S
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.3)
    pytest.fail(f"{what} not seen within {WAIT_S}s (last: {last!r})", pytrace=False)


def create(cluster: Cluster, path: str, obj: dict[str, Any]) -> dict[str, Any]:
    return cluster.request("POST", path, obj)


def model_server(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    body = {
        "image_name": "openvino/model_server:2024.1",
        "deployment_parameters": {"replicas": 1},
        "service_parameters": {"grpc_port": 8080, "rest_port": 8081, "service_type": "ClusterIP"},
        "models_settings": {
            "single_model_mode": True,
            "model_name": name,
            "model_path": f"gs://models/{name}",
        },
        "server_settings": {"log_level": "INFO", "file_system_poll_wait_seconds": 1},
        "models_repository": {"storage_type": "google"},
        **spec,
    }
    return {"apiVersion": "intel.com/v1alpha1", "kind": "ModelServer",
            "metadata": {"name": name, "namespace": namespace}, "spec": body}  # fmt: skip


def modelservers(namespace: str) -> str:
    return f"/apis/intel.com/v1alpha1/namespaces/{namespace}/modelservers"


def deployment(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    return cluster.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")


def available(found: dict[str, Any] | None) -> bool:
    """Available as `kubectl rollout status` and the readiness gate mean it: every replica updated and up."""
    status = (found or {}).get("status") or {}
    wanted = (found or {}).get("spec", {}).get("replicas", 1)
    return status.get("updatedReplicas") == wanted and status.get("availableReplicas") == wanted


def pods(cluster: Cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    return (cluster.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}") or {})["items"]


def waiting_reason(pod: dict[str, Any]) -> str | None:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return (statuses[0].get("state") or {}).get("waiting", {}).get("reason")


def test_a_model_server_becomes_the_operators_deployment_and_service_and_becomes_available(
    cluster: Cluster, namespace: str
) -> None:
    create(cluster, modelservers(namespace), model_server(namespace, "ovms-resnet"))
    found = wait_for(
        "an available ovms-resnet Deployment",
        lambda: available(d := deployment(cluster, namespace, "ovms-resnet")) and d,
    )
    container = found["spec"]["template"]["spec"]["containers"][0]
    probe = {"path": "/v2/health/ready", "port": "rest", "scheme": "HTTP"}  # the API server adds the scheme
    assert container["readinessProbe"]["httpGet"] == probe
    assert found["metadata"]["ownerReferences"][0]["kind"] == "ModelServer"
    service = cluster.get(f"/api/v1/namespaces/{namespace}/services/ovms-resnet")
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [
        ("grpc", 8080, 8080), ("rest", 8081, 8081)]  # fmt: skip
    assert service["spec"]["selector"] == {"app": "ovms-resnet"}
    cr = wait_for(
        "the operator's status",
        lambda: (
            (c := cluster.get(f"{modelservers(namespace)}/ovms-resnet")).get("status", {}).get("replicas")
            and c
        ),
    )
    deployed = {c["type"]: c for c in cr["status"]["conditions"]}["Deployed"]
    assert (deployed["status"], deployed["reason"]) == ("True", "InstallSuccessful")
    assert cr["status"]["labelSelector"] == "release=ovms-resnet"
    assert cr["metadata"]["finalizers"] == ["helm.sdk.operatorframework.io/uninstall-release"]
    # The stand-ins write as their own user: the admin's writes (what a test counts) hold none of theirs.
    theirs = [w["objectRef"] for w in cluster.writes("stand-ins")]
    assert {"resource": "modelservers", "subresource": "status"} in [
        {k: ref.get(k) for k in ("resource", "subresource")} for ref in theirs
    ]
    assert not [w for w in cluster.writes() if w["objectRef"].get("subresource") == "status"]
    # Deleting the CR uninstalls the release, as the operator's finalizer does.
    cluster.request("DELETE", f"{modelservers(namespace)}/ovms-resnet")
    wait_for("the CR gone", lambda: cluster.get(f"{modelservers(namespace)}/ovms-resnet") is None)
    wait_for("the Deployment gone", lambda: deployment(cluster, namespace, "ovms-resnet") is None)
    assert cluster.get(f"/api/v1/namespaces/{namespace}/services/ovms-resnet") is None


def pod_log(cluster: Cluster, namespace: str, pod: str, container: str) -> str:
    """GET pods/<name>/log: the API server fetches it from the node's kubelet endpoint."""
    request = urllib.request.Request(
        f"{cluster.server}/api/v1/namespaces/{namespace}/pods/{pod}/log?container={container}",
        headers={"Authorization": f"Bearer {cluster.token}"},
    )
    with urllib.request.urlopen(request, context=_insecure(), timeout=10) as response:
        return response.read().decode()


def test_a_crashing_model_server_reports_crash_loop_back_off_and_its_log_through_the_api(
    cluster: Cluster, namespace: str
) -> None:
    line = 'Error: Model "bad" failed to load: No version found for model in path: gs://models/bad'
    kubelet.set_faults(
        cluster.dir,
        [{"namespace": namespace, "labels": {"app": "ovms-bad"}, "fail": "CrashLoopBackOff", "log": line}],
    )
    create(cluster, modelservers(namespace), model_server(namespace, "ovms-bad"))
    (pod,) = wait_for(
        "a crash-looping pod",
        lambda: [
            p for p in pods(cluster, namespace, "app=ovms-bad") if waiting_reason(p) == "CrashLoopBackOff"
        ],
    )
    status = pod["status"]["containerStatuses"][0]
    meta = pod["metadata"]
    assert status["state"]["waiting"]["message"] == (
        f"back-off 40s restarting failed container=ovms pod={meta['name']}_{namespace}({meta['uid']})"
    )
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert pod_log(cluster, namespace, meta["name"], "ovms") == line + "\n"
    logs = cluster.kubectl("logs", "-n", namespace, meta["name"], "-c", "ovms", "--tail=1")
    assert logs.strip() == line
    found = deployment(cluster, namespace, "ovms-bad")
    assert not available(found)
    condition = {c["type"]: c for c in found["status"]["conditions"]}["Available"]
    assert (condition["status"], condition["reason"]) == ("False", "MinimumReplicasUnavailable")
    # The cause fixed: the same Pod starts, and the Deployment becomes available.
    kubelet.set_faults(cluster.dir, [])
    wait_for(
        "ovms-bad available after the fix", lambda: available(deployment(cluster, namespace, "ovms-bad"))
    )


def test_image_pull_back_off_and_unschedulable_look_as_on_a_real_cluster(
    cluster: Cluster, namespace: str
) -> None:
    kubelet.set_faults(cluster.dir, [
        {"namespace": namespace, "labels": {"app": "ovms-pull"}, "fail": "ImagePullBackOff"},
        {"namespace": namespace, "labels": {"app": "ovms-far"}, "fail": "Unschedulable"},
    ])  # fmt: skip
    create(
        cluster, modelservers(namespace), model_server(namespace, "ovms-pull", image_name="openvino/nope:1")
    )
    create(cluster, modelservers(namespace), model_server(namespace, "ovms-far"))
    (pulling,) = wait_for(
        "a pod in ImagePullBackOff",
        lambda: [
            p for p in pods(cluster, namespace, "app=ovms-pull") if waiting_reason(p) == "ImagePullBackOff"
        ],
    )
    assert pulling["status"]["phase"] == "Pending"
    waiting = pulling["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["message"] == 'Back-off pulling image "openvino/nope:1"'
    (far,) = wait_for(
        "an unschedulable pod",
        lambda: [
            p for p in pods(cluster, namespace, "app=ovms-far")
            if any(c.get("reason") == "Unschedulable" for c in p.get("status", {}).get("conditions", []))
        ],
    )  # fmt: skip
    scheduled = far["status"]["conditions"][0]
    assert (scheduled["type"], scheduled["status"]) == ("PodScheduled", "False")
    assert scheduled["message"].startswith("0/1 nodes are available")
    assert not far["spec"].get("nodeName")
    for name in ("ovms-pull", "ovms-far"):
        assert not available(deployment(cluster, namespace, name))


def test_a_pods_own_annotation_fails_it(cluster: Cluster, namespace: str) -> None:
    labels = {"app": "annotated"}
    template = {
        "metadata": {"labels": labels, "annotations": {kubelet.FAIL_ANNOTATION: "CrashLoopBackOff",
                                                       kubelet.LOG_ANNOTATION: "exit: bad flag"}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1"}]},
    }  # fmt: skip
    create(cluster, f"/apis/apps/v1/namespaces/{namespace}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "annotated"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
    })  # fmt: skip
    (pod,) = wait_for(
        "the annotated pod crash-looping",
        lambda: [
            p for p in pods(cluster, namespace, "app=annotated") if waiting_reason(p) == "CrashLoopBackOff"
        ],
    )
    assert pod_log(cluster, namespace, pod["metadata"]["name"], "main") == "exit: bad flag\n"


def inference_service(namespace: str, name: str, mode: str | None) -> dict[str, Any]:
    annotations = {"serving.kserve.io/deploymentMode": mode} if mode else {}
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": annotations,
            "labels": {"app": name},
        },
        "spec": {
            "predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "gs://models/iris"}}
        },
    }


def isvc_path(namespace: str) -> str:
    return f"/apis/serving.kserve.io/v1beta1/namespaces/{namespace}/inferenceservices"


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    return {c["type"]: c for c in ((obj or {}).get("status") or {}).get("conditions") or []}.get(kind, {})


@pytest.mark.parametrize(
    ("mode", "deployment_name", "url"),
    [
        (None, "iris-predictor-00001-deployment", "http://iris.{ns}.example.com"),
        ("RawDeployment", "iris-predictor", "http://iris-{ns}.example.com"),
    ],
)
def test_an_inference_service_gets_its_predictor_and_becomes_ready(
    cluster: Cluster, namespace: str, mode: str | None, deployment_name: str, url: str
) -> None:
    create(cluster, isvc_path(namespace), inference_service(namespace, "iris", mode))
    found = wait_for(
        "InferenceService Ready",
        lambda: (
            condition(i := cluster.get(f"{isvc_path(namespace)}/iris"), "Ready").get("status") == "True" and i
        ),
    )
    assert condition(found, "PredictorReady")["status"] == "True"
    assert found["status"]["url"] == url.format(ns=namespace)
    assert found["status"]["modelStatus"]["states"]["activeModelState"] == "Loaded"
    assert found["status"]["modelStatus"]["transitionStatus"] == "UpToDate"
    assert available(deployment(cluster, namespace, deployment_name))


def test_an_inference_service_whose_image_cannot_be_pulled_is_not_ready_with_the_deployments_reason(
    cluster: Cluster, namespace: str
) -> None:
    kubelet.set_faults(cluster.dir, [{"namespace": namespace, "labels": {"component": "predictor"},
                                      "fail": "ImagePullBackOff"}])  # fmt: skip
    create(cluster, isvc_path(namespace), inference_service(namespace, "iris", "RawDeployment"))
    found = wait_for(
        "PredictorReady False",
        lambda: (
            condition(i := cluster.get(f"{isvc_path(namespace)}/iris"), "PredictorReady").get("reason")
            == "MinimumReplicasUnavailable"
            and i
        ),
    )
    ready = condition(found, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "MinimumReplicasUnavailable")
    assert ready["message"] == "Deployment does not have minimum availability."
    assert found["status"]["modelStatus"]["transitionStatus"] == "InProgress"


def test_a_modelmesh_inference_service_loads_or_fails_to_load(cluster: Cluster, namespace: str) -> None:
    rule = {"namespace": namespace, "labels": {"app": "broken"}, "fail": "ModelLoadFailed"}
    kubelet.set_faults(cluster.dir, [{**rule, "message": "failed to load: no model files"}])
    create(cluster, isvc_path(namespace), inference_service(namespace, "mm", "ModelMesh"))
    create(cluster, isvc_path(namespace), inference_service(namespace, "broken", "ModelMesh"))
    loaded = wait_for(
        "ModelMesh Ready",
        lambda: (
            condition(i := cluster.get(f"{isvc_path(namespace)}/mm"), "Ready").get("status") == "True" and i
        ),
    )
    assert loaded["status"]["modelStatus"] == {
        "transitionStatus": "UpToDate",
        "states": {"activeModelState": "Loaded", "targetModelState": ""},
        "copies": {"failedCopies": 0, "totalCopies": 1},
    }
    assert (
        loaded["status"]["components"]["predictor"]["restUrl"] == f"http://modelmesh-serving.{namespace}:8008"
    )
    broken = wait_for(
        "ModelMesh failure",
        lambda: (
            condition(i := cluster.get(f"{isvc_path(namespace)}/broken"), "Ready").get("status") == "False"
            and i
        ),
    )
    model = broken["status"]["modelStatus"]
    assert model["transitionStatus"] == "BlockedByFailedLoad"
    assert model["lastFailureInfo"]["reason"] == "ModelLoadFailed"
    assert model["lastFailureInfo"]["message"] == "failed to load: no model files"


def seldon_deployment(namespace: str, name: str, deadline: int | None = None) -> dict[str, Any]:
    predictor: dict[str, Any] = {
        "name": "default",
        "replicas": 1,
        "graph": {"name": "classifier", "implementation": "SKLEARN_SERVER", "modelUri": "gs://models/iris"},
    }
    if deadline:
        predictor["progressDeadlineSeconds"] = deadline
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"protocol": "v2", "predictors": [predictor]},
    }


def test_a_seldon_deployment_becomes_available_or_fails_once_it_stops_progressing(
    cluster: Cluster, namespace: str
) -> None:
    path = f"/apis/machinelearning.seldon.io/v1/namespaces/{namespace}/seldondeployments"
    labels = {"seldon-deployment-id": "crashing"}
    kubelet.set_faults(cluster.dir, [{"namespace": namespace, "labels": labels, "fail": "CrashLoopBackOff"}])
    create(cluster, path, seldon_deployment(namespace, "iris"))
    create(cluster, path, seldon_deployment(namespace, "crashing", deadline=3))
    iris = wait_for(
        "Seldon Available",
        lambda: (s := cluster.get(f"{path}/iris")).get("status", {}).get("state") == "Available" and s,
    )
    assert iris["status"]["address"]["url"] == (
        f"http://iris-default.{namespace}.svc.cluster.local:8000/v2/models/classifier/infer"
    )
    assert available(deployment(cluster, namespace, "iris-default-0-classifier"))
    crashing = wait_for(
        "Seldon Failed",
        lambda: (s := cluster.get(f"{path}/crashing")).get("status", {}).get("state") == "Failed" and s,
    )
    assert crashing["status"]["description"] == "Deployment is no longer progressing and not available."


def test_the_stand_ins_are_a_process_of_the_cluster(cluster: Cluster) -> None:
    state = json.loads((cluster.dir / testbed_cluster.STATE_FILE).read_text())
    assert [p["name"] for p in state["processes"]][-2:] == ["kubelet-stand-in", "stand-ins"]


def test_without_stand_ins_nothing_reconciles_and_a_hand_set_status_stays(
    control_plane: Path, tmp_path: Path
) -> None:
    with testbed_cluster.running(tmp_path, control_plane) as plain:
        prepare_namespace(plain, "hand")
        create(plain, modelservers("hand"), model_server("hand", "ovms-alone"))
        made = create(plain, isvc_path("hand"), inference_service("hand", "iris", None))
        status = {"conditions": [{"type": "Ready", "status": "False", "reason": "ByHand"}]}
        plain.request("PUT", f"{isvc_path('hand')}/iris/status", {**made, "status": status})
        time.sleep(3)  # several polls of every stand-in, were one running
        assert deployment(plain, "hand", "ovms-alone") is None
        assert condition(plain.get(f"{isvc_path('hand')}/iris"), "Ready")["reason"] == "ByHand"
        assert plain.get(f"{modelservers('hand')}/ovms-alone").get("status") is None
