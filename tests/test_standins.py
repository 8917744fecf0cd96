"""The test bed's stand-ins without a cluster: the operator chart's rendering, the kubelet's fault statuses,
and the status each controller stand-in derives (the rules each follows are named in testbed/ovms_chart.py,
testbed/kubelet.py and testbed/standins.py with the upstream files they come from)."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest

from offline import schemas
from testbed import kubelet, ovms_chart, standins


def model_server(name: str = "ovms-resnet", spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ModelServer as the program writes one (components/backends/ovms.py spec's shape)."""
    return {
        "apiVersion": "intel.com/v1alpha1",
        "kind": "ModelServer",
        "metadata": {"name": name, "namespace": "fuseml-workloads", "uid": "0b7c-uid", "generation": 1},
        "spec": spec
        or {
            "image_name": "openvino/model_server:2024.1",
            "deployment_parameters": {
                "replicas": 2,
                "resources": {
                    "requests": {"cpu": "500m", "memory": "1Gi"},
                    "limits": {"cpu": "2", "memory": "2Gi", "xpu_device": "gpu.intel.com/i915",
                               "xpu_device_quantity": "1"},
                },
                "node_affinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["gpu"]}]}]}},
            },
            "service_parameters": {"grpc_port": 8080, "rest_port": 8081, "service_type": "ClusterIP"},
            "models_settings": {"single_model_mode": True, "model_name": "resnet",
                                "model_path": "s3://models/resnet", "target_device": "CPU", "nireq": 4,
                                "plugin_config": '{"PERFORMANCE_HINT":"LATENCY"}'},
            "server_settings": {"log_level": "DEBUG", "file_system_poll_wait_seconds": 1},
            "models_repository": {"storage_type": "S3", "aws_access_key_id": "AKIA",
                                  "aws_secret_access_key": "s3cret", "aws_region": "eu-west-1",
                                  "s3_compat_api_endpoint": "http://minio:9000"},
        },
    }  # fmt: skip


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {obj["kind"]: obj for obj in objects}


def test_every_rendered_object_passes_the_kubernetes_schema() -> None:
    shared = model_server(
        "ovms-shared",
        {"image_name": "openvino/model_server:2024.1",
         "models_settings": {"single_model_mode": False, "config_configmap_name": "ovms-shared"},
         "models_repository": {"storage_type": "azure",
                               "azure_storage_connection_string": "DefaultEndpoints"}},
    )  # fmt: skip
    gcs = model_server("ovms-gcs", {"models_repository": {"gcp_creds_secret_name": "gcpcreds"}})
    pvc = model_server(
        "ovms-pvc", {"models_repository": {"storage_type": "cluster", "models_volume_claim": "m"}}
    )
    for cr in (model_server(), shared, gcs, pvc):
        for obj in ovms_chart.render(cr):
            assert schemas.validate(obj) == [], (cr["metadata"]["name"], obj["kind"])


def test_a_model_server_becomes_the_charts_deployment_named_after_its_release() -> None:
    objects = by_kind(ovms_chart.render(model_server()))
    deployment = objects["Deployment"]
    assert deployment["metadata"]["name"] == "ovms-resnet"  # the release name holds "ovms": used as is
    labels = {"heritage": "Helm", "release": "ovms-resnet", "chart": "ovms-4.0.0", "app": "ovms-resnet"}
    assert deployment["spec"]["selector"] == {"matchLabels": {"release": "ovms-resnet", "app": "ovms-resnet"}}
    assert deployment["spec"]["template"]["metadata"] == {"labels": labels}
    assert deployment["metadata"]["labels"] == {
        **labels, "helm.sdk.operatorframework.io/chart": "ovms", "app.kubernetes.io/managed-by": "Helm"
    }  # fmt: skip
    assert deployment["metadata"]["annotations"] == {
        "meta.helm.sh/release-name": "ovms-resnet", "meta.helm.sh/release-namespace": "fuseml-workloads"
    }  # fmt: skip
    assert deployment["metadata"]["ownerReferences"] == [
        {"apiVersion": "intel.com/v1alpha1", "kind": "ModelServer", "name": "ovms-resnet", "uid": "0b7c-uid",
         "controller": True, "blockOwnerDeletion": True}
    ]  # fmt: skip
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["name"] == "ovms" and container["image"] == "openvino/model_server:2024.1"
    assert container["ports"] == [
        {"containerPort": 8080, "name": "grpc"},
        {"containerPort": 8081, "name": "rest"},
    ]
    assert container["readinessProbe"] == {
        "initialDelaySeconds": 5, "periodSeconds": 5, "httpGet": {"path": "/v2/health/ready", "port": "rest"}
    }  # fmt: skip
    assert container["livenessProbe"] == {"httpGet": {"path": "/v2/health/live", "port": "rest"}}
    assert container["args"] == [
        "--model_path", "s3://models/resnet", "--model_name", "resnet", "--target_device", "CPU",
        "--nireq", "4", "--plugin_config", '{"PERFORMANCE_HINT":"LATENCY"}',
        # the chart's default version policy (values.yaml) stays unless the CR nulls it
        "--model_version_policy", '{"latest": { "num_versions":1 }}',
        "--log_level", "DEBUG", "--file_system_poll_wait_seconds", "1", "--grpc_workers", "1",
        "--sequence_cleaner_poll_wait_minutes", "0", "--port", "8080", "--rest_port", "8081",
    ]  # fmt: skip
    assert container["resources"] == {
        "limits": {"cpu": "2", "memory": "2Gi", "gpu.intel.com/i915": "1"},
        "requests": {"cpu": "500m", "memory": "1Gi"},
    }
    assert container["env"] == [
        {"name": "AWS_ACCESS_KEY_ID", "value": "AKIA"},
        {"name": "AWS_SECRET_ACCESS_KEY",
         "valueFrom": {"secretKeyRef": {"name": "ovms-resnet-aws-secret", "key": "secret_access_key"}}},
        {"name": "AWS_REGION", "value": "eu-west-1"},
        {"name": "S3_ENDPOINT", "value": "http://minio:9000"},
    ]  # fmt: skip
    assert pod["affinity"] == {
        "nodeAffinity": model_server()["spec"]["deployment_parameters"]["node_affinity"]
    }
    assert deployment["spec"]["replicas"] == 2
    secret = objects["Secret"]
    assert secret["metadata"]["name"] == "ovms-resnet-aws-secret"
    assert base64.b64decode(secret["data"]["secret_access_key"]) == b"s3cret"


def test_the_service_selects_by_app_and_maps_the_service_ports_to_the_containers() -> None:
    cr = model_server()
    cr["spec"]["service_parameters"] = {"grpc_port": 9000, "rest_port": 9001, "service_type": "NodePort"}
    service = by_kind(ovms_chart.render(cr))["Service"]
    assert service["metadata"]["name"] == "ovms-resnet"
    assert service["spec"] == {
        "ports": [
            {"port": 9000, "protocol": "TCP", "targetPort": 8080, "name": "grpc"},
            {"port": 9001, "protocol": "TCP", "targetPort": 8081, "name": "rest"},
        ],
        "selector": {"app": "ovms-resnet"},
        "type": "NodePort",
    }


def test_a_shared_server_mounts_its_config_map_at_config_and_passes_config_path() -> None:
    settings = {"single_model_mode": False, "config_configmap_name": "ovms-shared"}
    cr = model_server("ovms-shared", {"models_settings": settings})
    pod = by_kind(ovms_chart.render(cr))["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][:2] == ["--config_path", "/config/config.json"]
    assert "--model_path" not in container["args"]
    assert container["volumeMounts"] == [{"name": "config", "mountPath": "/config", "readOnly": True}]
    assert pod["volumes"] == [{"name": "config", "configMap": {"name": "ovms-shared"}}]


def test_gcs_credentials_come_from_the_fixed_gcpcreds_secret() -> None:
    cr = model_server("ovms-gcs", {"models_repository": {"gcp_creds_secret_name": "anything"}})
    pod = by_kind(ovms_chart.render(cr))["Deployment"]["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "gcpcreds", "secret": {"secretName": "gcpcreds"}}]
    assert pod["containers"][0]["env"] == [
        {"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/secret/gcp-creds.json"}
    ]


def test_helpers_fullname_and_values_coalescing() -> None:
    assert ovms_chart.fullname("resnet", {}) == "resnet-ovms"
    assert ovms_chart.fullname("x" * 70, {}) == "x" * 63  # `<release>-ovms` cut at 63
    assert ovms_chart.fullname("ovms-" + "a" * 57 + "-b", {}) == "ovms-" + "a" * 57  # cut, then "-" trimmed
    assert ovms_chart.fullname("mine", {"nameOverride": "in"}) == "mine"
    assert ovms_chart.fullname("anything", {"fullnameOverride": "mine-"}) == "mine"
    merged = ovms_chart.values({"models_settings": {"model_version_policy": None, "nireq": 2}})
    assert "model_version_policy" not in merged["models_settings"]  # a null removes the chart's default
    assert merged["models_settings"]["nireq"] == 2 and merged["models_settings"]["target_device"] == "CPU"
    assert ovms_chart.values(None)["service_parameters"]["rest_port"] == 8081
    assert ovms_chart.VALUES["models_settings"]["nireq"] == 0  # the defaults themselves are left alone


def test_the_operator_status_names_the_release_and_counts_available_replicas() -> None:
    cr = model_server()
    status = ovms_chart.status(cr, ovms_chart.render(cr), 2)
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [
        ("Initialized", "True"),
        ("Deployed", "True"),
    ]
    assert (
        status["deployedRelease"]["name"] == "ovms-resnet"
        and "kind: Deployment" in status["deployedRelease"]["manifest"]
    )
    assert status["replicas"] == 2 and status["labelSelector"] == "release=ovms-resnet"
    assert "replicas" not in ovms_chart.status(cr, [], 0)


# --- the kubelet stand-in's faults -------------------------------------------------------------------------


def pod(annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "ovms-bad-7d9f-x2k", "namespace": "e2e-1", "uid": "1234-abcd",
                     "labels": labels or {"app": "ovms-bad"}, "annotations": annotations or {}},
        "spec": {"containers": [{"name": "ovms", "image": "openvino/model_server:2024.1"}]},
    }  # fmt: skip


def with_status(obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(obj), "status": status}


@pytest.mark.parametrize("fault", kubelet.FAULTS)
def test_each_fault_status_passes_the_pod_schema(fault: str) -> None:
    assert schemas.validate(with_status(pod(), kubelet.failed_status(pod(), {"fail": fault}))) == []
    assert schemas.validate(with_status(pod(), kubelet.running_status(pod()))) == []


def test_image_pull_back_off_is_pending_with_the_kubelets_waiting_message() -> None:
    status = kubelet.failed_status(pod(), {"fail": "ImagePullBackOff"})
    assert status["phase"] == "Pending"
    (container,) = status["containerStatuses"]
    assert container["state"] == {
        "waiting": {
            "reason": "ImagePullBackOff",
            "message": 'Back-off pulling image "openvino/model_server:2024.1"',
        }
    }
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False", "ContainersNotReady", "containers with unready status: [ovms]")  # fmt: skip


def test_crash_loop_back_off_runs_waits_and_remembers_the_crash() -> None:
    status = kubelet.failed_status(pod(), {"fail": "CrashLoopBackOff"})
    assert status["phase"] == "Running"
    (container,) = status["containerStatuses"]
    assert container["state"]["waiting"] == {
        "reason": "CrashLoopBackOff",
        "message": "back-off 40s restarting failed container=ovms pod=ovms-bad-7d9f-x2k_e2e-1(1234-abcd)",
    }
    assert container["lastState"]["terminated"]["exitCode"] == 1
    assert container["lastState"]["terminated"]["reason"] == "Error"
    assert container["restartCount"] > 0 and container["ready"] is False


def test_unschedulable_is_the_schedulers_verdict_with_its_message() -> None:
    status = kubelet.failed_status(pod(), {"fail": "Unschedulable"})
    assert status["phase"] == "Pending" and "containerStatuses" not in status
    (scheduled,) = status["conditions"]
    assert (scheduled["type"], scheduled["status"], scheduled["reason"]) == (
        "PodScheduled",
        "False",
        "Unschedulable",
    )
    assert scheduled["message"].startswith(
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity"
    )
    custom = kubelet.failed_status(
        pod(), {"fail": "Unschedulable", "message": "0/1 nodes: Insufficient cpu."}
    )
    assert custom["conditions"][0]["message"] == "0/1 nodes: Insufficient cpu."


def test_a_pods_annotation_wins_over_rules_and_rules_match_namespace_and_labels() -> None:
    rules = [{"namespace": "e2e-1", "labels": {"app": "ovms-bad"}, "fail": "CrashLoopBackOff", "log": "boom"}]
    assert kubelet.fault_for(pod(), rules) == rules[0]
    assert kubelet.fault_for(pod(labels={"app": "ovms-good"}), rules) is None
    other = pod()
    other["metadata"]["namespace"] = "e2e-2"
    assert kubelet.fault_for(other, rules) is None
    annotated = pod({kubelet.FAIL_ANNOTATION: "ImagePullBackOff"})
    assert kubelet.fault_for(annotated, rules)["fail"] == "ImagePullBackOff"
    # A controller-level fault is not a Pod's.
    assert kubelet.fault_for(pod(), [{"fail": "ModelLoadFailed"}]) is None


def test_fault_rules_are_checked_when_written(tmp_path: Path) -> None:
    with pytest.raises(kubelet.FaultError, match=r"fail: 'OOMKilled' is not one of ImagePullBackOff, "):
        kubelet.set_faults(tmp_path, [{"fail": "OOMKilled"}])
    with pytest.raises(kubelet.FaultError, match=r"unknown keys \['name'\]"):
        kubelet.set_faults(tmp_path, [{"fail": "CrashLoopBackOff", "name": "x"}])
    kubelet.set_faults(tmp_path, [{"fail": "CrashLoopBackOff", "labels": {"app": "a"}}])
    assert kubelet.read_rules(tmp_path) == [{"fail": "CrashLoopBackOff", "labels": {"app": "a"}}]
    kubelet.set_faults(tmp_path, [])
    assert kubelet.read_rules(tmp_path) == []


# --- KServe, ModelMesh, Seldon ---------------------------------------------------------------------------


def isvc(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "sk", "namespace": "ns", "uid": "u-1", "generation": 1,
                     "annotations": annotations or {}},
        "spec": {"predictor": {"minReplicas": 1, "model": {"modelFormat": {"name": "sklearn"},
                                                           "storageUri": "s3://b/m"}}},
    }  # fmt: skip


def deployment(*conditions: tuple[str, str, str, str]) -> dict[str, Any]:
    return {"status": {"conditions": [
        {"type": kind, "status": status, "reason": reason, "message": message}
        for kind, status, reason, message in conditions
    ]}}  # fmt: skip


AVAILABLE = ("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
UNAVAILABLE = (
    "Available",
    "False",
    "MinimumReplicasUnavailable",
    "Deployment does not have minimum availability.",
)
PROGRESSED = (
    "Progressing",
    "True",
    "NewReplicaSetAvailable",
    'ReplicaSet "sk-predictor-5f" has successfully progressed.',
)
PROGRESSING = ("Progressing", "True", "ReplicaSetUpdated", 'ReplicaSet "sk-predictor-5f" is progressing.')
DEADLINE = (
    "Progressing",
    "False",
    "ProgressDeadlineExceeded",
    'ReplicaSet "sk-predictor-5f" has timed out progressing.',
)


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {c["type"]: (c["status"], c.get("reason")) for c in status["conditions"]}


def test_kserve_objects_are_the_predictor_deployment_of_each_mode() -> None:
    raw = standins.kserve_objects(isvc({standins.DEPLOYMENT_MODE: "RawDeployment"}), True, "img")
    assert [o["metadata"]["name"] for o in raw] == ["sk-predictor", "sk-predictor"]
    assert raw[0]["spec"]["template"]["metadata"]["labels"]["app"] == "isvc.sk-predictor"
    assert raw[0]["spec"]["template"]["spec"]["containers"][0]["name"] == "kserve-container"
    knative = standins.kserve_objects(isvc(), False, "img")
    assert [o["metadata"]["name"] for o in knative] == ["sk-predictor-00001-deployment"]
    for obj in [*raw, *knative]:
        assert schemas.validate(obj) == []
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "u-1"


def test_kserve_serverless_is_not_ready_while_a_new_spec_rolls_out_but_keeps_serving_the_old() -> None:
    # Knative: a new revision not yet ready leaves the Configuration's Ready Unknown (knative serving
    # pkg/apis/serving/v1/configuration_lifecycle.go SetLatestCreatedRevisionName); the route keeps the
    # old revision. KServe's raw mode follows the Deployment's Available condition alone.
    running = with_status(pod(), kubelet.running_status(pod()))
    rolling = deployment(AVAILABLE, PROGRESSING)
    status = standins.kserve_status(isvc(), False, rolling, [running])
    assert conditions(status)["Ready"][0] == "Unknown"
    assert conditions(status)["PredictorConfigurationReady"][0] == "Unknown"
    assert status["url"] == "http://sk.ns.example.com"
    raw = standins.kserve_status(isvc({standins.DEPLOYMENT_MODE: "RawDeployment"}), True, rolling, [running])
    assert conditions(raw)["Ready"] == ("True", None)


def test_kserve_is_ready_when_its_deployment_is_available() -> None:
    running = with_status(pod(), kubelet.running_status(pod()))
    status = standins.kserve_status(isvc(), False, deployment(AVAILABLE, PROGRESSED), [running])
    assert conditions(status)["Ready"] == ("True", None)
    assert conditions(status)["PredictorReady"] == ("True", "NewReplicaSetAvailable")
    assert status["url"] == "http://sk.ns.example.com"
    assert status["address"] == {"url": "http://sk.ns.svc.cluster.local"}
    assert status["modelStatus"]["states"] == {"activeModelState": "Loaded", "targetModelState": "Loaded"}
    assert status["modelStatus"]["transitionStatus"] == "UpToDate"
    raw = standins.kserve_status(isvc(), True, deployment(AVAILABLE, PROGRESSED), [running])
    assert raw["url"] == "http://sk-ns.example.com" and raw["deploymentMode"] == "Standard"
    assert raw["address"] == {"url": "http://sk-predictor.ns.svc.cluster.local"}
    assert schemas.validate({**isvc(), "status": status}) == []


def test_kserve_reports_the_deployments_reason_and_a_crashing_model() -> None:
    crashing = pod()
    crashing["spec"]["containers"][0]["name"] = "kserve-container"
    crashing = with_status(crashing, kubelet.failed_status(crashing, {"fail": "CrashLoopBackOff"}))
    status = standins.kserve_status(isvc(), True, deployment(UNAVAILABLE, PROGRESSING), [crashing])
    assert conditions(status)["PredictorReady"] == ("False", "MinimumReplicasUnavailable")
    assert conditions(status)["Ready"] == ("False", "MinimumReplicasUnavailable")
    assert conditions(status)["IngressReady"] == ("False", "Predictor ingress not created")
    assert "url" not in status
    model = status["modelStatus"]
    assert model["transitionStatus"] == "BlockedByFailedLoad"
    assert model["states"]["targetModelState"] == "FailedToLoad"
    assert model["lastFailureInfo"] == {"reason": "ModelLoadFailed", "exitCode": 1}
    timed_out = standins.kserve_status(isvc(), True, deployment(DEADLINE), [])
    assert conditions(timed_out)["PredictorReady"] == ("False", "ProgressDeadlineExceeded")
    assert timed_out["modelStatus"]["states"]["targetModelState"] == "Pending"
    assert (
        conditions(standins.kserve_status(isvc(), True, deployment(PROGRESSING), []))["Ready"][0] == "Unknown"
    )
    assert schemas.validate({**isvc(), "status": status}) == []


def test_modelmesh_is_loaded_or_failed_to_load() -> None:
    mm = isvc({standins.DEPLOYMENT_MODE: "ModelMesh"})
    loaded = standins.modelmesh_status(mm, None)
    assert conditions(loaded) == {"PredictorReady": ("True", None), "Ready": ("True", None)}
    assert loaded["modelStatus"]["states"] == {"activeModelState": "Loaded", "targetModelState": ""}
    assert loaded["modelStatus"]["transitionStatus"] == "UpToDate"
    assert loaded["components"]["predictor"]["restUrl"] == "http://modelmesh-serving.ns:8008"
    failed = standins.modelmesh_status(mm, {"fail": "ModelLoadFailed", "message": "no such model"})
    assert conditions(failed)["Ready"] == ("False", None)
    assert failed["modelStatus"]["lastFailureInfo"]["message"] == "no such model"
    assert failed["modelStatus"]["states"]["activeModelState"] == "FailedToLoad"
    for status in (loaded, failed):
        assert schemas.validate({**mm, "status": status}) == []


def sdep(progress_deadline: int | None = None) -> dict[str, Any]:
    graph = {"name": "classifier", "implementation": "SKLEARN_SERVER"}
    predictor: dict[str, Any] = {"name": "default", "replicas": 1, "graph": graph}
    if progress_deadline:
        predictor["progressDeadlineSeconds"] = progress_deadline
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "iris", "namespace": "ns", "uid": "u-2", "generation": 1},
        "spec": {"protocol": "v2", "predictors": [predictor]},
    }


def test_seldon_deployments_are_named_as_the_operator_names_them() -> None:
    (made,) = standins.seldon_deployments(sdep(30))
    assert made["metadata"]["name"] == "iris-default-0-classifier"
    assert made["spec"]["progressDeadlineSeconds"] == 30
    assert made["spec"]["template"]["spec"]["containers"][0]["name"] == "classifier"
    assert schemas.validate(made) == []
    assert (
        standins._seldon_name("x" * 64).startswith("seldon-") and len(standins._seldon_name("x" * 64)) == 39
    )


def test_seldon_state_is_available_creating_or_failed() -> None:
    def found(*conds: tuple[str, str, str, str], ready: int) -> dict[str, Any]:
        made = deployment(*conds)
        made["metadata"] = {"name": "iris-default-0-classifier"}
        made["status"].update(replicas=1, readyReplicas=ready, availableReplicas=ready,
                              unavailableReplicas=1 - ready)  # fmt: skip
        return made

    available = standins.seldon_status(sdep(), [found(AVAILABLE, PROGRESSED, ready=1)])
    assert available["state"] == "Available" and "description" not in available
    assert available["address"] == {
        "url": "http://iris-default.ns.svc.cluster.local:8000/v2/models/classifier/infer"
    }
    assert available["deploymentStatus"] == {
        "iris-default-0-classifier": {"replicas": 1, "availableReplicas": 1}
    }
    assert conditions(available)["Ready"] == ("True", None)
    creating = standins.seldon_status(sdep(), [found(UNAVAILABLE, PROGRESSING, ready=0)])
    assert creating["state"] == "Creating"
    failed = standins.seldon_status(sdep(), [found(UNAVAILABLE, DEADLINE, ready=0)])
    assert failed["state"] == "Failed"
    assert failed["description"] == "Deployment is no longer progressing and not available."
    assert conditions(failed)["DeploymentsReady"] == ("False", "MinimumReplicasUnavailable")
    for status in (available, creating, failed):
        assert schemas.validate({**sdep(), "status": status}) == []


def test_status_writes_keep_transition_times_of_unchanged_conditions() -> None:
    old = [{"type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}]
    stamped = standins._stamp([{"type": "Ready", "status": "True"}, {"type": "X", "status": "False"}], old)
    assert stamped[0]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    assert stamped[1]["lastTransitionTime"] != "2020-01-01T00:00:00Z"


# --- the command line ------------------------------------------------------------------------------------


def test_up_runs_the_stand_ins_only_when_asked_and_try_local_always(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from testbed import __main__ as cli
    from testbed import cluster, local, toolchain

    started: list[bool] = []

    def up(root: Path, bin_dir: Path, *, stand_ins: bool = False) -> cluster.Cluster:
        started.append(stand_ins)
        return cluster.Cluster(dir=root, server="https://127.0.0.1:1", token="t", bin_dir=bin_dir)

    monkeypatch.setattr(toolchain, "ensure", lambda **_: tmp_path)
    monkeypatch.setattr(cluster, "up", up)
    monkeypatch.setattr(local, "deploy", lambda found, root: {})
    assert cli.main(["up", "--dir", str(tmp_path)]) == 0
    assert cli.main(["up", "--dir", str(tmp_path), "--stand-ins"]) == 0
    assert cli.main(["try-local", "--dir", str(tmp_path)]) == 0
    assert started == [False, True, True]
