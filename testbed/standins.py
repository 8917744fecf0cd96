"""Stand-ins for the serving systems' controllers: the OpenVINO operator, KServe, ModelMesh and Seldon Core 1.

Why: none of the real controllers can be built here (the module proxy refuses their modules), and without
them a ModelServer never becomes a Deployment and no InferenceService or SeldonDeployment ever reports
ready, so a readiness check could not be tried end to end. `python -m testbed up --stand-ins` runs this
next to the loopback cluster; without the flag nothing reconciles these kinds (a test sets statuses by
hand). Each stand-in does what its controller does, as read in its source, and no more:

- ModelServer (intel.com/v1alpha1): installs the operator's Helm release (`testbed.ovms_chart`: the
  Deployment and Service of the v1.2.0 chart, owned by the CR), adds the operator's uninstall finalizer
  and on deletion removes the release and the finalizer; writes the operator's status (Deployed, the
  release, replicas from the Deployment). Its Pods are run, or failed, by the kubelet stand-in.
- InferenceService, KServe modes (kserve v0.20.0): creates the predictor's Deployment whose Pods the kubelet
  stand-in runs or fails, and derives the status from it as KServe's raw mode does
  (pkg/apis/serving/v1beta1/inference_service_status.go PropagateRawStatus, PropagateModelStatus). In raw
  mode (`serving.kserve.io/deploymentMode: RawDeployment|Standard`) the Deployment and Service are
  `<name>-predictor` (pkg/constants/constants.go PredictorServiceName). In the default mode (Serverless,
  i.e. Knative: config/configmap/inferenceservice.yaml defaultDeploymentMode) Knative would run the
  Pods; there is no Knative here, so the stand-in creates the Deployment Knative would,
  `<name>-predictor-00001-deployment` (one revision, updated in place), and sets Knative's
  conditions (PredictorConfigurationReady, PredictorRouteReady, LatestDeploymentReady, RoutesReady) to
  PredictorReady's value; while that Deployment rolls out a new spec they and Ready are Unknown, the
  URL kept (Knative's new revision not yet ready beside the serving one). URLs: Knative
  `http://<name>.<ns>.example.com`, address
  `<name>.<ns>.svc.cluster.local` (reconcilers/ingress/ingress_reconciler.go, getServiceHost); raw
  `http://<name>-<ns>.example.com` (the shipped domainTemplate), address
  `<name>-predictor.<ns>.svc.cluster.local` (kube_ingress_reconciler.go createAddress); example.com is
  the shipped ingressDomain.
- InferenceService, ModelMesh mode (modelmesh-serving v0.12.0): no Pods of its own (models load into the
  shared runtime Pods), so the status is set directly, as
  pkg/predictor_source/inferenceservice_registry.go UpdateStatus writes it for a loaded model:
  PredictorReady and Ready True, modelStatus {transitionStatus UpToDate, states {activeModelState
  Loaded}}, URLs `grpc://modelmesh-serving.<ns>:8033` and `http://modelmesh-serving.<ns>:8008`
  (pkg/mmesh/modelmesh_service.go). A test makes one fail with the annotation `testbed.fuseml/fail:
  ModelLoadFailed` (and `testbed.fuseml/message`), or a rule of that fault in the kubelet's
  faults file matching the InferenceService's labels: FailedToLoad, BlockedByFailedLoad, lastFailureInfo
  {reason ModelLoadFailed, message}, PredictorReady and Ready False (controllers/predictor_controller.go).
- SeldonDeployment (seldon-core v1.18.2): creates each predictor's Deployment
  (`<name>-<predictor>-0-<graph name>`, apis/.../seldondeployment_types.go GetDeploymentName, with the
  predictor's progressDeadlineSeconds), whose Pods the kubelet stand-in runs or fails, and sets the
  status as controllers/seldondeployment_controller.go Reconcile does: `Available` when every Deployment
  has ready and no unavailable replicas, `Failed` with "Deployment is no longer progressing and not
  available." once a Deployment is neither progressing nor available (progress deadline passed),
  `Creating` otherwise; deploymentStatus, address
  (`http://<name>-<predictor>.<ns>.svc.cluster.local:8000<path>`) and conditions.

The stand-ins write as their own user (`stand-ins`), so `Cluster.writes()` still counts only the user's
writes. Run as `python -m testbed.standins KUBECONFIG`; it polls, and stops when the API server is gone.
"""

from __future__ import annotations

import hashlib
import sys
import urllib.error
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from testbed import kubelet, ovms_chart
from testbed.cluster import Cluster

POLL_S = 0.5
FIELD_MANAGER = "testbed-stand-ins"
MODELSERVERS = "/apis/intel.com/v1alpha1"
INFERENCESERVICES = "/apis/serving.kserve.io/v1beta1"
SELDONDEPLOYMENTS = "/apis/machinelearning.seldon.io/v1"
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
#: KServe's InferenceService container (pkg/constants/constants.go InferenceServiceContainerName).
KSERVE_CONTAINER = "kserve-container"
#: The shipped ingressDomain (kserve config/configmap/inferenceservice.yaml).
INGRESS_DOMAIN = "example.com"
MODELMESH_FAULT = "ModelLoadFailed"
SELDON_FAILED = "Deployment is no longer progressing and not available."
#: Seldon's engine (orchestrator) ports: DEFAULT_ENGINE_CONTAINER_PORT and its gRPC port.
SELDON_HTTP_PORT = 8000
SELDON_GRPC_PORT = 5001
#: Images the stand-ins' Pods carry when the spec does not name one (no container runs here).
PLACEHOLDER_IMAGE = "testbed/stand-in:latest"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _path(obj: dict[str, Any]) -> str:
    """The API path of a namespaced object of the kinds the stand-ins write."""
    plural = {"Deployment": "deployments", "Service": "services", "Secret": "secrets"}[obj["kind"]]
    base = "/api/v1" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
    return f"{base}/namespaces/{obj['metadata']['namespace']}/{plural}/{obj['metadata']['name']}"


def apply(cluster: Cluster, obj: dict[str, Any]) -> None:
    """Server-side apply under the stand-ins' field manager: fields it no longer renders go away."""
    cluster.request(
        "PATCH",
        f"{_path(obj)}?fieldManager={FIELD_MANAGER}&force=true",
        obj,
        content_type="application/apply-patch+yaml",
    )


def delete(cluster: Cluster, obj: dict[str, Any]) -> None:
    try:
        cluster.request("DELETE", _path(obj))
    except urllib.error.HTTPError as err:
        if err.code != 404:
            raise


def _items(cluster: Cluster, path: str) -> list[dict[str, Any]]:
    return (cluster.get(path) or {}).get("items", [])


def _without_times(value: Any) -> Any:
    """A status without its timestamps, to tell a real change from a re-stamp."""
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in ("lastTransitionTime", "time")}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _stamp(conditions: list[dict[str, Any]], old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """lastTransitionTime as controllers keep it: unchanged while a condition's status stays the same."""
    before = {c.get("type"): c for c in old or []}
    now = _now()
    for condition in conditions:
        previous = before.get(condition["type"])
        same = (
            previous and previous.get("status") == condition["status"] and previous.get("lastTransitionTime")
        )
        condition["lastTransitionTime"] = previous["lastTransitionTime"] if same else now
    return conditions


def write_status(cluster: Cluster, cr: dict[str, Any], plural_path: str, status: dict[str, Any]) -> bool:
    """Replace the CR's status with this one (through /status) when it differs; True when written.

    A replace (PUT with the listed resourceVersion), not a merge: keys a controller drops must go
    (lastFailureInfo, url); a conflict means the CR changed since the list, and the next poll sees it.
    """
    old = cr.get("status") or {}
    if "conditions" in status:
        status["conditions"] = _stamp(status["conditions"], old.get("conditions") or [])
    if _without_times(old) == _without_times(status):
        return False
    meta = cr["metadata"]
    path = f"{plural_path}/namespaces/{meta['namespace']}/{_plural(cr)}/{meta['name']}/status"
    try:
        cluster.request("PUT", path, {**cr, "status": status})
    except urllib.error.HTTPError as err:
        if err.code not in (404, 409):
            raise
        return False
    return True


def _plural(cr: dict[str, Any]) -> str:
    return {
        "ModelServer": "modelservers",
        "InferenceService": "inferenceservices",
        "SeldonDeployment": "seldondeployments",
    }[cr["kind"]]


def _owner(cr: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": cr["apiVersion"],
        "kind": cr["kind"],
        "name": cr["metadata"]["name"],
        "uid": cr["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _deployment_conditions(deployment: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in ((deployment or {}).get("status") or {}).get("conditions") or []}


def _set_finalizers(cluster: Cluster, cr: dict[str, Any], plural_path: str, finalizers: list[str]) -> None:
    meta = cr["metadata"]
    cluster.request(
        "PATCH",
        f"{plural_path}/namespaces/{meta['namespace']}/{_plural(cr)}/{meta['name']}",
        {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}},
        content_type="application/merge-patch+json",
    )


class StandIns:
    """One poll of every stand-in; remembers what it applied so each CR is rendered once per generation."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.applied: dict[str, int] = {}

    def _fresh(self, cr: dict[str, Any]) -> bool:
        """Whether this generation of the CR still has to be applied (`_done` notes it applied)."""
        meta = cr["metadata"]
        return self.applied.get(meta["uid"]) != meta.get("generation", 0)

    def _done(self, cr: dict[str, Any]) -> None:
        self.applied[cr["metadata"]["uid"]] = cr["metadata"].get("generation", 0)

    def poll(self) -> None:
        for kind, path, reconcile in (
            ("ModelServer", MODELSERVERS, self.modelserver),
            ("InferenceService", INFERENCESERVICES, self.inferenceservice),
            ("SeldonDeployment", SELDONDEPLOYMENTS, self.seldondeployment),
        ):
            for cr in _items(self.cluster, f"{path}/{_plural({'kind': kind})}"):
                try:
                    reconcile(cr)
                except urllib.error.HTTPError as err:
                    meta = cr["metadata"]
                    print(f"{kind} {meta['namespace']}/{meta['name']}: {err.code} {err.reason}", flush=True)

    # --- OpenVINO operator -------------------------------------------------------------------------------

    def modelserver(self, cr: dict[str, Any]) -> None:
        meta = cr["metadata"]
        objects = ovms_chart.render(cr)
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp"):
            if ovms_chart.UNINSTALL_FINALIZER in finalizers:
                # reconcile.go: uninstall the release, then drop the finalizer.
                for obj in objects:
                    delete(self.cluster, obj)
                finalizers.remove(ovms_chart.UNINSTALL_FINALIZER)
                _set_finalizers(self.cluster, cr, MODELSERVERS, finalizers)
            return
        deployment = None if self._fresh(cr) else self.cluster.get(_path(objects[0]))
        if deployment is None:  # a new generation, or its Deployment deleted by hand: (re)install
            for obj in objects:
                apply(self.cluster, obj)
            if ovms_chart.UNINSTALL_FINALIZER not in finalizers:
                _set_finalizers(self.cluster, cr, MODELSERVERS, [*finalizers, ovms_chart.UNINSTALL_FINALIZER])
                return  # the CR changed: the next poll writes its status
            self._done(cr)
            deployment = self.cluster.get(_path(objects[0]))
        available = ((deployment or {}).get("status") or {}).get("availableReplicas", 0)
        write_status(self.cluster, cr, MODELSERVERS, ovms_chart.status(cr, objects, available))

    # --- KServe and ModelMesh --------------------------------------------------------------------------

    def inferenceservice(self, cr: dict[str, Any]) -> None:
        meta = cr["metadata"]
        if meta.get("deletionTimestamp"):
            return  # no finalizer of the stand-ins': garbage collection removes what they created
        mode = (meta.get("annotations") or {}).get(DEPLOYMENT_MODE, "Serverless")
        if mode == "ModelMesh":
            write_status(self.cluster, cr, INFERENCESERVICES, self.modelmesh_status(cr))
            return
        raw = mode in ("RawDeployment", "Standard")
        objects = kserve_objects(cr, raw, self._runtime_image(cr))
        deployment = None if self._fresh(cr) else self.cluster.get(_path(objects[0]))
        if deployment is None:
            for obj in objects:
                apply(self.cluster, obj)
            self._done(cr)
            deployment = self.cluster.get(_path(objects[0]))
        selector = ",".join(f"{k}={v}" for k, v in objects[0]["spec"]["selector"]["matchLabels"].items())
        pods = _items(self.cluster, f"/api/v1/namespaces/{meta['namespace']}/pods?labelSelector={selector}")
        write_status(self.cluster, cr, INFERENCESERVICES, kserve_status(cr, raw, deployment, pods))

    def _runtime_image(self, cr: dict[str, Any]) -> str:
        """The image of the runtime the predictor names (ServingRuntime, else ClusterServingRuntime)."""
        runtime = ((cr.get("spec") or {}).get("predictor") or {}).get("model", {}).get("runtime")
        if runtime:
            ns = cr["metadata"]["namespace"]
            for path in (
                f"/apis/serving.kserve.io/v1alpha1/namespaces/{ns}/servingruntimes/{runtime}",
                f"/apis/serving.kserve.io/v1alpha1/clusterservingruntimes/{runtime}",
            ):
                found = self.cluster.get(path)
                containers = ((found or {}).get("spec") or {}).get("containers") or []
                if containers and containers[0].get("image"):
                    return containers[0]["image"]
        return PLACEHOLDER_IMAGE

    def modelmesh_status(self, cr: dict[str, Any]) -> dict[str, Any]:
        rules = kubelet.read_rules(self.cluster.dir)
        return modelmesh_status(cr, kubelet.fault_for(cr, rules, allowed=(MODELMESH_FAULT,)))

    # --- Seldon Core 1 ---------------------------------------------------------------------------------

    def seldondeployment(self, cr: dict[str, Any]) -> None:
        meta = cr["metadata"]
        if meta.get("deletionTimestamp"):
            return
        deployments = seldon_deployments(cr)
        found = [] if self._fresh(cr) else [self.cluster.get(_path(obj)) for obj in deployments]
        if not found or None in found:
            for obj in deployments:
                apply(self.cluster, obj)
            self._done(cr)
            found = [self.cluster.get(_path(obj)) for obj in deployments]
        write_status(self.cluster, cr, SELDONDEPLOYMENTS, seldon_status(cr, found))


# --- KServe -----------------------------------------------------------------------------------------------


def kserve_objects(cr: dict[str, Any], raw: bool, image: str) -> list[dict[str, Any]]:
    """The predictor's Deployment (first) and, in raw mode, its Service, owned by the InferenceService."""
    meta = cr["metadata"]
    name, ns = meta["name"], meta["namespace"]
    predictor = (cr.get("spec") or {}).get("predictor") or {}
    model = predictor.get("model") or {}
    service = f"{name}-predictor"
    labels = {"serving.kserve.io/inferenceservice": name, "component": "predictor"}
    if raw:
        deployment_name = service
        labels["app"] = f"isvc.{service}"  # constants.go GetRawServiceLabel
    else:
        revision = f"{service}-00001"
        deployment_name = f"{revision}-deployment"
        labels.update(
            {
                "app": revision,
                "serving.knative.dev/service": service,
                "serving.knative.dev/revision": revision,
            }
        )
    container: dict[str, Any] = {"name": KSERVE_CONTAINER, "image": image}
    if model.get("resources"):
        container["resources"] = model["resources"]
    pod: dict[str, Any] = {"containers": [container]}
    for key in ("serviceAccountName", "affinity", "nodeSelector", "tolerations"):
        if predictor.get(key):
            pod[key] = predictor[key]
    replicas = predictor.get("minReplicas")
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": deployment_name,
            "namespace": ns,
            "labels": dict(labels),
            "ownerReferences": [_owner(cr)],
        },
        "spec": {
            "replicas": replicas if isinstance(replicas, int) and replicas > 0 else 1,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
        },
    }
    objects = [deployment]
    if raw:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": service,
                    "namespace": ns,
                    "labels": dict(labels),
                    "ownerReferences": [_owner(cr)],
                },
                "spec": {
                    "selector": {"app": labels["app"]},
                    "ports": [{"name": f"{service}-http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                },
            }
        )
    return objects


def _rolling(deployment: dict[str, Any] | None) -> bool:
    """Whether the Deployment still rolls out a spec: its Progressing condition not yet at
    NewReplicaSetAvailable (kubernetes pkg/controller/deployment/util/deployment_util.go: ReplicaSetUpdated
    while it progresses, ProgressDeadlineExceeded once stuck), or its generation not yet observed."""
    found = deployment or {}
    progressing = _deployment_conditions(found).get("Progressing")
    generation = (found.get("metadata") or {}).get("generation", 0)
    return (progressing is not None and progressing.get("reason") != "NewReplicaSetAvailable") or (
        (found.get("status") or {}).get("observedGeneration", generation) < generation
    )


def _predictor_condition(deployment: dict[str, Any] | None) -> dict[str, Any]:
    """PredictorReady from the Deployment's conditions, by PropagateRawStatus's rules."""
    conditions = _deployment_conditions(deployment)

    def ready(status: str, source: dict[str, Any]) -> dict[str, Any]:
        """PredictorReady with this status, taking its reason and message from a Deployment condition."""
        found = {
            "type": "PredictorReady",
            "status": status,
            "reason": source.get("reason", ""),
            "message": source.get("message", ""),
        }
        return {k: v for k, v in found.items() if v != "" or k == "status"}

    found = ready("False", {})
    available, progressing = conditions.get("Available"), conditions.get("Progressing")
    if available and available["status"] == "True":
        found = ready("True", available)
    if progressing:
        if progressing["status"] == "False" and progressing.get("message"):
            found = ready("False", progressing)
        elif progressing["status"] == "True":
            if progressing.get("reason") == "NewReplicaSetAvailable":
                found = ready("True", progressing)
            elif not available or available["status"] != "True":
                found = ready("Unknown", progressing)
    if available and available["status"] == "False":
        found = ready("False", available)
    failure = conditions.get("ReplicaFailure")
    if failure and failure["status"] == "True":
        found = ready("False", failure)
    return found


def _model_status(ready: bool, pods: list[dict[str, Any]]) -> dict[str, Any]:
    """modelStatus by PropagateModelStatus: Pending without Pods, Loaded when ready, FailedToLoad when the
    kserve-container is in CrashLoopBackOff (with the last termination's message and exit code)."""
    ready_pods = sum(
        1
        for pod in pods
        if (pod.get("status") or {}).get("phase") == "Running"
        and any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])
    )
    status: dict[str, Any] = {"copies": {"failedCopies": 0, "totalCopies": ready_pods}}
    state, failure = "Pending", None
    if pods and ready:
        state = "Loaded"
    elif pods:
        for container in (pods[0].get("status") or {}).get("containerStatuses") or []:
            if container["name"] != KSERVE_CONTAINER:
                continue
            waiting = (container.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") == "CrashLoopBackOff":
                last = (container.get("lastState") or {}).get("terminated") or {}
                state = "FailedToLoad"
                failure = {
                    "reason": "ModelLoadFailed",
                    "message": last.get("message", ""),
                    "exitCode": last.get("exitCode", 0),
                }
                failure = {k: v for k, v in failure.items() if v not in ("", 0)} | {
                    "reason": "ModelLoadFailed"
                }
    status["transitionStatus"] = {
        "Pending": "InProgress",
        "Loaded": "UpToDate",
        "FailedToLoad": "BlockedByFailedLoad",
    }[state]
    status["states"] = {
        "activeModelState": "Loaded" if state == "Loaded" else "Pending",
        "targetModelState": state,
    }
    if failure:
        status["lastFailureInfo"] = failure
    return status


def kserve_status(
    cr: dict[str, Any], raw: bool, deployment: dict[str, Any] | None, pods: list[dict[str, Any]]
) -> dict[str, Any]:
    """The InferenceService status KServe derives from its predictor's Deployment and Pods."""
    meta = cr["metadata"]
    name, ns = meta["name"], meta["namespace"]
    predictor = _predictor_condition(deployment)
    serving = predictor["status"] == "True"
    if serving and not raw and _rolling(deployment):
        # Knative runs a new spec as a new revision beside the one serving; until that revision is ready
        # the Configuration's Ready is Unknown (knative serving pkg/apis/serving/v1/configuration_lifecycle.go
        # SetLatestCreatedRevisionName), and so are the Service's and KServe's, while the route keeps
        # the old revision. One Deployment updated in place stands for both revisions: its rollout done is
        # the new revision ready.
        predictor = {"type": "PredictorReady", "status": "Unknown"}
    ready = predictor["status"] == "True"
    component: dict[str, Any] = {}
    conditions = [predictor]
    status: dict[str, Any] = {"deploymentMode": "Standard" if raw else "Knative"}
    if raw:
        if ready:
            conditions.append({"type": "IngressReady", "status": "True"})
            status["url"] = f"http://{name}-{ns}.{INGRESS_DOMAIN}"
            status["address"] = {"url": f"http://{name}-predictor.{ns}.svc.cluster.local"}
            component["url"] = f"http://{name}-predictor-{ns}.{INGRESS_DOMAIN}"
        else:
            conditions.append(
                {"type": "IngressReady", "status": "False", "reason": "Predictor ingress not created"}
            )
    else:
        revision = f"{name}-predictor-00001"
        component["latestCreatedRevision"] = revision
        for kind in (
            "PredictorConfigurationReady",
            "PredictorRouteReady",
            "LatestDeploymentReady",
            "RoutesReady",
        ):
            conditions.append({**predictor, "type": kind})
        if serving:
            component.update(
                latestReadyRevision=revision,
                latestRolledoutRevision=revision,
                url=f"http://{name}-predictor.{ns}.{INGRESS_DOMAIN}",
                address={"url": f"http://{name}-predictor.{ns}.svc.cluster.local"},
            )
            conditions.append({"type": "IngressReady", "status": "True"})
            status["url"] = f"http://{name}.{ns}.{INGRESS_DOMAIN}"
            status["address"] = {"url": f"http://{name}.{ns}.svc.cluster.local"}
    # Ready: the living condition set of PredictorReady and IngressReady; when not ready it carries the
    # predictor's reason (the informative one; KServe takes the most recently changed unhappy dependent).
    ready_condition = {"type": "Ready", "status": "True"} if ready else {**predictor, "type": "Ready"}
    if not ready and ready_condition["status"] == "True":
        ready_condition["status"] = "False"
    status["conditions"] = sorted([*conditions, ready_condition], key=lambda c: c["type"])
    status["components"] = {"predictor": component}
    status["modelStatus"] = _model_status(ready, pods)
    status["observedGeneration"] = meta.get("generation", 0)
    return status


def modelmesh_status(cr: dict[str, Any], fault: dict[str, Any] | None) -> dict[str, Any]:
    """The status ModelMesh writes for a model loaded into its runtime, or failed to load (`fault`)."""
    meta = cr["metadata"]
    ns = meta["namespace"]
    if fault:
        message = fault.get("message") or f"testbed: model {meta['name']} failed to load"
        return {
            "conditions": [
                {"type": "PredictorReady", "status": "False"},
                {"type": "Ready", "status": "False"},
            ],
            "modelStatus": {
                "transitionStatus": "BlockedByFailedLoad",
                "states": {"activeModelState": "FailedToLoad", "targetModelState": ""},
                "copies": {"failedCopies": 1, "totalCopies": 0},
                "lastFailureInfo": {
                    "reason": MODELMESH_FAULT,
                    "message": message,
                    "modelRevisionName": f"{meta['name']}__isvc-{meta['uid'][:10]}",
                },
            },
        }
    grpc, rest = f"grpc://modelmesh-serving.{ns}:8033", f"http://modelmesh-serving.{ns}:8008"
    return {
        "conditions": [{"type": "PredictorReady", "status": "True"}, {"type": "Ready", "status": "True"}],
        "url": grpc,
        "components": {"predictor": {"url": grpc, "grpcUrl": grpc, "restUrl": rest}},
        "modelStatus": {
            "transitionStatus": "UpToDate",
            "states": {"activeModelState": "Loaded", "targetModelState": ""},
            "copies": {"failedCopies": 0, "totalCopies": 1},
        },
    }


# --- Seldon Core 1 ----------------------------------------------------------------------------------------


def _seldon_name(name: str) -> str:
    """GetDeploymentName's rule for long names: `seldon-<md5>` beyond 63 characters."""
    return name if len(name) <= 63 else "seldon-" + hashlib.md5(name.encode()).hexdigest()


def seldon_deployments(cr: dict[str, Any]) -> list[dict[str, Any]]:
    """One Deployment per predictor, named and labelled as the Seldon operator names them."""
    meta = cr["metadata"]
    found = []
    for predictor in (cr.get("spec") or {}).get("predictors") or []:
        graph = predictor.get("graph") or {}
        specs = predictor.get("componentSpecs") or []
        containers = (specs[0].get("spec") or {}).get("containers") if specs else None
        # prepack.go: a prepackaged server with no componentSpecs gets one container named after the graph.
        containers = containers or [{"name": graph.get("name", "model"), "image": PLACEHOLDER_IMAGE}]
        containers = [{"name": c["name"], "image": c.get("image") or PLACEHOLDER_IMAGE} for c in containers]
        name = _seldon_name(f"{meta['name']}-{predictor['name']}-0-{'-'.join(c['name'] for c in containers)}")
        labels = {
            "seldon-deployment-id": meta["name"],
            "seldon-app": f"{meta['name']}-{predictor['name']}",
            "app": name,
        }
        pod: dict[str, Any] = {"containers": containers}
        if specs and (specs[0].get("spec") or {}).get("affinity"):
            pod["affinity"] = specs[0]["spec"]["affinity"]
        spec: dict[str, Any] = {
            "replicas": predictor.get("replicas", 1),
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod},
        }
        if predictor.get("progressDeadlineSeconds"):
            spec["progressDeadlineSeconds"] = predictor["progressDeadlineSeconds"]
        found.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": name,
                    "namespace": meta["namespace"],
                    "labels": dict(labels),
                    "ownerReferences": [_owner(cr)],
                },
                "spec": spec,
            }
        )
    return found


def _prediction_path(cr: dict[str, Any]) -> str:
    """operator/utils/utils.go GetPredictionPath."""
    spec = cr.get("spec") or {}
    graph = ((spec.get("predictors") or [{}])[0].get("graph") or {}).get("name", "")
    protocol = spec.get("protocol")
    if protocol == "tensorflow":
        return f"/v1/models/{graph}:predict"
    if protocol in ("kfserving", "v2"):
        return f"/v2/models/{graph}/infer"
    return "/api/v1.0/predictions"


def seldon_status(cr: dict[str, Any], deployments: list[dict[str, Any] | None]) -> dict[str, Any]:
    """The SeldonDeployment status: state from its Deployments, as the operator's Reconcile decides it."""
    meta = cr["metadata"]
    ns = meta["namespace"]
    predictors = (cr.get("spec") or {}).get("predictors") or []
    ready, progressing = bool(deployments), True
    deployment_status: dict[str, Any] = {}
    deployments_ready: dict[str, Any] = {"type": "DeploymentsReady", "status": "True"}
    for found in deployments:
        if found is None:
            ready = False
            continue
        st = found.get("status") or {}
        deployment_status[found["metadata"]["name"]] = {
            k: v
            for k, v in {
                "replicas": st.get("replicas", 0),
                "availableReplicas": st.get("availableReplicas", 0),
            }.items()
            if v
        }
        if not st.get("readyReplicas") or st.get("unavailableReplicas", 0) > 0:
            conditions = _deployment_conditions(found)
            available = conditions.get("Available") or {}
            deployments_ready = {
                "type": "DeploymentsReady",
                "status": available.get("status", "Unknown"),
                "reason": available.get("reason", ""),
                "message": available.get("message", ""),
            }
            if (conditions.get("Progressing") or {}).get("status") == "False" and available.get(
                "status"
            ) == "False":
                progressing = False
            ready = False
    if ready:
        state, description = "Available", ""
    elif not progressing:
        state, description = "Failed", SELDON_FAILED
    else:
        state, description = "Creating", ""
    deployments_ready = {k: v for k, v in deployments_ready.items() if v != ""}
    conditions = [
        {"type": "AmbassadorMappingsReady", "status": "True", "reason": "No Ambassador Mappaings defined"},
        deployments_ready,
        {"type": "HpasReady", "status": "True", "reason": "No HPAs defined"},
        {"type": "KedaReady", "status": "True", "reason": "No KEDA resources defined"},
        {"type": "PdbsReady", "status": "True", "reason": "No PDBs defined"},
        {"type": "ServicesReady", "status": "True", "reason": "All services created"},
        {"type": "istioVirtualServicesReady", "status": "True", "reason": "All VirtualServices created"},
    ]
    happy = deployments_ready["status"] == "True"
    conditions.append(
        {"type": "Ready", "status": "True"} if happy else {**deployments_ready, "type": "Ready"}
    )
    status: dict[str, Any] = {"state": state, "conditions": sorted(conditions, key=lambda c: c["type"])}
    if description:
        status["description"] = description
    if deployment_status:
        status["deploymentStatus"] = deployment_status
    if predictors:
        service = f"{meta['name']}-{predictors[0]['name']}"
        status["address"] = {
            "url": f"http://{service}.{ns}.svc.cluster.local:{SELDON_HTTP_PORT}{_prediction_path(cr)}"
        }
        status["serviceStatus"] = {
            service: {
                "svcName": service,
                "httpEndpoint": f"{service}.{ns}:{SELDON_HTTP_PORT}",
                "grpcEndpoint": f"{service}.{ns}:{SELDON_GRPC_PORT}",
            }
        }
        replicas = (deployments[0] or {}).get("status", {}).get("replicas") if deployments else None
        if replicas:
            status["replicas"] = replicas
    return status


def main(kubeconfig: str) -> int:
    kubelet.poll_until_gone(StandIns(kubelet._cluster(Path(kubeconfig))).poll, POLL_S)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
