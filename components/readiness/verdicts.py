"""Whether a served model is ready, and why not, read from the objects its serving system writes.

Why here, on plain API objects: what "ready" means is each system's own rule, read in its source (cited
at each rule below), and the explanation of a failure must be in that system's words; keeping both as
functions of the objects the API server returns lets the tests prove them on recorded objects, with no
cluster. The provider (`components.readiness.provider`) fetches the objects through a `Reader`.

The rules:

- `ovms`: the operator (v1.2.0) renders each ModelServer into a Deployment of the CR's name (its chart
  `helm-charts/ovms/templates/deployment.yaml`, whose readiness probe is OVMS's `/v2/health/ready`, so a
  Pod is Ready only once its models are loaded). Ready = that Deployment rolled out as `kubectl rollout
  status` decides it (k8s.io/kubectl v0.36.3 pkg/polymorphichelpers/rollout_status.go
  DeploymentStatusViewer): its generation observed, every replica updated, no old replica left, every
  updated replica available. A shared server is the same Deployment for every model on it.
- `kserve`: the InferenceService's `Ready` condition True for its current generation (kserve v0.20.0
  pkg/apis/serving/v1beta1/inference_service_status.go: Ready is the living set of PredictorReady and
  IngressReady; `status.observedGeneration`, which pulumi-kubernetes' own condition await also honours).
- `modelmesh`: the InferenceService's `Ready` condition True and its `modelStatus` UpToDate with the
  active model Loaded (modelmesh-serving v0.12.0 pkg/predictor_source/inferenceservice_registry.go
  UpdateStatus, controllers/predictor_controller.go).
- `seldon`: `status.state` Available (seldon-core v1.18.2 operator/controllers/seldondeployment_controller.go
  Reconcile: Available once every Deployment has ready and no unavailable replicas; Failed once one
  stopped progressing), and every Deployment it owns rolled out.

Staleness: a status written for the previous spec must not pass an update. KServe writes
observedGeneration; the operator's Helm status, Seldon Core 1 and ModelMesh's InferenceService status do
not, so after an update their verdict counts only once SETTLE_S have passed (their controllers react to a
spec change within a reconcile, well under that) or once the Deployment they render has moved on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

#: How long after an update a status without observedGeneration may still be the old spec's.
SETTLE_S = 5.0
#: Pods and log lines an explanation quotes: enough to say why, short enough for one line.
PODS_SHOWN = 2
LOG_LINES = 3
LOG_CHARS = 300

MODELSERVERS = ("intel.com/v1alpha1", "modelservers", "ModelServer")
INFERENCESERVICES = ("serving.kserve.io/v1beta1", "inferenceservices", "InferenceService")
SELDONDEPLOYMENTS = ("machinelearning.seldon.io/v1", "seldondeployments", "SeldonDeployment")
DEPLOYMENTS = ("apps/v1", "deployments", "Deployment")
PODS = ("v1", "pods", "Pod")
#: KServe labels its predictor's Pods with the InferenceService's name and names the model server's
#: container kserve-container (kserve v0.20.0 pkg/constants/constants.go InferenceServicePodLabelKey,
#: InferenceServiceContainerName).
KSERVE_POD_LABEL = "serving.kserve.io/inferenceservice"
KSERVE_CONTAINER = "kserve-container"
#: The operator's Deployment labels its Pods `app: <name>`, `release: <name>` and names the container
#: `ovms` (operator v1.2.0 helm-charts/ovms/templates/deployment.yaml).
OVMS_CONTAINER = "ovms"
#: Seldon labels each predictor's Deployment and Pods with the SeldonDeployment's name (seldon-core v1.18.2
#: operator/controllers/seldondeployment_controller.go, machinelearningv1.Label_seldon_id).
SELDON_LABEL = "seldon-deployment-id"


class Reader(Protocol):
    """What a verdict reads from the cluster, in the model's namespace."""

    def get(self, kind: tuple[str, str, str], name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        ...

    def list(self, kind: tuple[str, str, str], labels: dict[str, str]) -> list[dict[str, Any]]:
        """The objects carrying every one of these labels."""
        ...

    def log(self, pod: str, container: str, lines: int) -> str:
        """The last lines of a container's log ("" when there is none)."""
        ...


@dataclass(frozen=True)
class Verdict:
    """One look at a model: ready or not, what it waits for, and where its Pods are."""

    ready: bool
    waiting: str
    """What it waits for, in the system's terms (the progress line, and the start of a failure's why)."""
    gone: str = ""
    """Set when the model's object was deleted (by hand) while the gate waited: final, no use waiting."""
    pods: dict[str, str] | None = None
    """The labels of the model's Pods, to say why they are not ready; None for a model without Pods."""
    containers: tuple[str, ...] = ()
    """The model server's containers, whose logs a failure quotes."""


def conditions(obj: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {c.get("type"): c for c in ((obj or {}).get("status") or {}).get("conditions") or []}


def _said(condition: dict[str, Any]) -> str:
    """A condition in its own words: `Type=Status (Reason: message)`."""
    words = ": ".join(part for part in (condition.get("reason"), condition.get("message")) if part)
    shown = f"{condition.get('type')}={condition.get('status', 'Unknown')}"
    return f"{shown} ({words})" if words else shown


def _stale(obj: dict[str, Any]) -> bool:
    """A status written before its controller saw the current spec (status.observedGeneration)."""
    observed = (obj.get("status") or {}).get("observedGeneration")
    generation = (obj.get("metadata") or {}).get("generation")
    return isinstance(observed, int | float) and isinstance(generation, int | float) and observed < generation


def rollout(deployment: dict[str, Any]) -> tuple[bool, str]:
    """(rolled out, what it waits for) of a Deployment, by kubectl's DeploymentStatusViewer rules."""
    name = deployment["metadata"]["name"]
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    wanted = spec.get("replicas", 1)
    updated, total = status.get("updatedReplicas", 0), status.get("replicas", 0)
    available, ready = status.get("availableReplicas", 0), status.get("readyReplicas", 0)
    if deployment["metadata"].get("generation", 0) > status.get("observedGeneration", 0):
        return False, f"Deployment {name}: waiting for its spec update to be observed"
    progressing = conditions(deployment).get("Progressing") or {}
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return False, f"Deployment {name}: exceeded its progress deadline ({_said(progressing)})"
    if updated < wanted:
        return False, f"Deployment {name}: {updated} of {wanted} replicas updated, {ready}/{wanted} ready"
    if total > updated:
        return False, f"Deployment {name}: {total - updated} old replicas pending termination"
    if available < updated:
        return False, f"Deployment {name}: {available}/{updated} replicas ready"
    return True, f"Deployment {name}: {available}/{wanted} replicas ready"


def judge_ovms(reader: Reader, name: str, settled: bool, seen: dict[str, Any]) -> Verdict:
    """The operator's Deployment of ModelServer `name` (see the module docstring)."""
    pods, containers = {"app": name, "release": name}, (OVMS_CONTAINER,)
    deployment = reader.get(DEPLOYMENTS, name)
    server = reader.get(MODELSERVERS, name) if deployment is None else None
    if deployment is None:
        if server is None:
            return Verdict(False, "", gone=f"ModelServer {name} was deleted")
        if (server.get("metadata") or {}).get("deletionTimestamp"):
            return Verdict(False, "", gone=f"ModelServer {name} is being deleted")
        unhappy = [_said(c) for c in conditions(server).values() if c.get("status") != "True"]
        said = f" (ModelServer {name}: {'; '.join(unhappy)})" if unhappy else ""
        return Verdict(False, f"the operator has not rendered Deployment {name} yet{said}", pods=pods)
    ready, waiting = rollout(deployment)
    return Verdict(ready and _moved_on(deployment, settled, seen), waiting, pods=pods, containers=containers)


def _moved_on(deployment: dict[str, Any], settled: bool, seen: dict[str, Any]) -> bool:
    """After an update: the Deployment was re-rendered since the last ready look, or SETTLE_S passed."""
    if settled:
        return True
    meta = deployment["metadata"]
    return (meta.get("uid"), meta.get("generation")) != (seen.get("uid"), seen.get("generation"))


def judge_kserve(reader: Reader, name: str, settled: bool, seen: dict[str, Any]) -> Verdict:
    """The InferenceService's Ready condition for its current generation."""
    pods, containers = {KSERVE_POD_LABEL: name}, (KSERVE_CONTAINER,)
    isvc = reader.get(INFERENCESERVICES, name)
    if isvc is None or (isvc.get("metadata") or {}).get("deletionTimestamp"):
        return Verdict(False, "", gone=f"InferenceService {name} was deleted")
    if _stale(isvc):
        return Verdict(False, f"InferenceService {name}: waiting for KServe to reconcile its spec", pods=pods)
    ready = conditions(isvc).get("Ready") or {"type": "Ready", "status": "Unknown"}
    said = [f"InferenceService {name}: {_said(ready)}"]
    model = (isvc.get("status") or {}).get("modelStatus") or {}
    said += _model_status(model)
    return Verdict(ready.get("status") == "True", "; ".join(said), pods=pods, containers=containers)


def _model_status(model: dict[str, Any]) -> list[str]:
    """modelStatus in its own words, when it says something beyond Loaded/UpToDate."""
    states = model.get("states") or {}
    found = []
    if model.get("transitionStatus") not in (None, "UpToDate"):
        found.append(
            f"model {model['transitionStatus']} (target {states.get('targetModelState') or '-'}, "
            f"active {states.get('activeModelState') or '-'})"
        )
    failure = model.get("lastFailureInfo") or {}
    if failure:
        words = ": ".join(str(p) for p in (failure.get("reason"), failure.get("message")) if p)
        found.append(f"last failure {words}")
    return found


def judge_modelmesh(reader: Reader, name: str, settled: bool, seen: dict[str, Any]) -> Verdict:
    """The InferenceService's Ready condition and its model Loaded, UpToDate."""
    isvc = reader.get(INFERENCESERVICES, name)
    if isvc is None or (isvc.get("metadata") or {}).get("deletionTimestamp"):
        return Verdict(False, "", gone=f"InferenceService {name} was deleted")
    if _stale(isvc):
        return Verdict(False, f"InferenceService {name}: waiting for ModelMesh to reconcile its spec")
    ready = conditions(isvc).get("Ready") or {"type": "Ready", "status": "Unknown"}
    model = (isvc.get("status") or {}).get("modelStatus") or {}
    loaded = (
        model.get("transitionStatus") == "UpToDate"
        and (model.get("states") or {}).get("activeModelState") == "Loaded"
    )
    said = "; ".join([f"InferenceService {name}: {_said(ready)}", *_model_status(model)])
    return Verdict(ready.get("status") == "True" and loaded and settled, said)


def judge_seldon(reader: Reader, name: str, settled: bool, seen: dict[str, Any]) -> Verdict:
    """The SeldonDeployment Available, and every Deployment of it rolled out."""
    pods = {SELDON_LABEL: name}
    sdep = reader.get(SELDONDEPLOYMENTS, name)
    if sdep is None or (sdep.get("metadata") or {}).get("deletionTimestamp"):
        return Verdict(False, "", gone=f"SeldonDeployment {name} was deleted")
    graphs = [(p.get("graph") or {}).get("name") for p in (sdep.get("spec") or {}).get("predictors") or []]
    containers = tuple(g for g in graphs if g)
    status = sdep.get("status") or {}
    state = status.get("state") or "(no state yet)"
    said = [f"SeldonDeployment {name}: state {state}"]
    if status.get("description"):
        said[0] += f" ({status['description']})"
    ready_condition = conditions(sdep).get("Ready")
    if ready_condition and ready_condition.get("status") != "True":
        said.append(_said(ready_condition))
    deployments = reader.list(DEPLOYMENTS, pods)
    rolled = [rollout(d) for d in deployments]
    said += [waiting for done, waiting in rolled if not done]
    ready = state == "Available" and bool(deployments) and all(done for done, _ in rolled)
    moved = settled or any(_moved_on(d, False, seen) for d in deployments)
    return Verdict(ready and moved, "; ".join(said), pods=pods, containers=containers)


JUDGES: dict[str, Callable[[Reader, str, bool, dict[str, Any]], Verdict]] = {
    "ovms": judge_ovms,
    "kserve": judge_kserve,
    "modelmesh": judge_modelmesh,
    "seldon": judge_seldon,
}


def waited_for(backend: str, ready_timeout_s: int) -> bool:
    """Whether `pulumi up` waits for a model: a bound above 0 and a readiness rule for its backend."""
    return bool(ready_timeout_s) and backend in JUDGES


def judge(
    backend: str, reader: Reader, name: str, settled: bool = True, seen: dict[str, Any] | None = None
) -> Verdict:
    """One look at model object `name` of this backend. `settled`: False during SETTLE_S after an update,
    when a status without observedGeneration may still describe the old spec; `seen` is the Deployment
    (uid, generation) the last ready look found."""
    return JUDGES[backend](reader, name, settled, seen or {})


def seen_of(backend: str, reader: Reader, name: str) -> dict[str, Any]:
    """What a ready look found of the model's Deployment, to tell a re-render after the next update."""
    found = None
    if backend == "ovms":
        found = reader.get(DEPLOYMENTS, name)
    elif backend == "seldon":
        listed = reader.list(DEPLOYMENTS, {SELDON_LABEL: name})
        found = listed[0] if listed else None
    meta = (found or {}).get("metadata") or {}
    return {"uid": meta.get("uid"), "generation": meta.get("generation")} if found else {}


# --- Pods: why they are not ready -------------------------------------------------------------------------


def pod_states(pods: list[dict[str, Any]]) -> list[str]:
    """Each unready Pod in the kubelet's and scheduler's words (at most PODS_SHOWN), e.g.
    `pod ovms-a-7d..: container ovms CrashLoopBackOff (back-off 40s restarting failed container=...)`."""
    found = []
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        said = pod_state(pod)
        if said:
            found.append(f"pod {pod['metadata']['name']}: {said}")
    if len(found) > PODS_SHOWN:
        found = [*found[:PODS_SHOWN], f"{len(found) - PODS_SHOWN} more pods not ready"]
    return found


def pod_state(pod: dict[str, Any]) -> str:
    """Why one Pod is not ready ("" when it is): unschedulable, a container waiting, crashed, unready."""
    status = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return ""  # an old replica on its way out says nothing about the new one
    scheduled = conditions(pod).get("PodScheduled") or {}
    if scheduled.get("status") == "False":
        return _said({**scheduled, "type": "PodScheduled"}).replace("PodScheduled=False ", "", 1)
    said = []
    for container in status.get("containerStatuses") or []:
        if container.get("ready"):
            continue
        state = container.get("state") or {}
        if "waiting" in state:
            waiting = state["waiting"] or {}
            reason = waiting.get("reason") or "Waiting"
            text = f"container {container['name']} {reason}"
            said.append(f"{text} ({waiting['message']})" if waiting.get("message") else text)
        elif "terminated" in state:
            ended = state["terminated"] or {}
            said.append(
                f"container {container['name']} terminated ({ended.get('reason', '')}, exit code "
                f"{ended.get('exitCode', '?')})"
            )
        else:
            said.append(f"container {container['name']} running, not ready (readiness probe failing)")
    if not said and status.get("phase") not in ("Running", "Succeeded"):
        said.append(f"phase {status.get('phase') or 'Pending'}")
    return "; ".join(said)


def crashed(pod: dict[str, Any], containers: tuple[str, ...]) -> list[str]:
    """The containers of the model server (or any, when `containers` is empty) that ran and stopped: the
    ones whose log says why (a container that never started, e.g. in ImagePullBackOff, has none)."""
    found = []
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        if containers and container["name"] not in containers:
            continue
        ran = container.get("restartCount", 0) > 0 or "terminated" in (container.get("state") or {})
        if ran and not container.get("ready"):
            found.append(container["name"])
    return found


def log_tail(text: str) -> str:
    """The last LOG_LINES non-empty lines of a log on one line, at most LOG_CHARS."""
    lines = [line.strip() for line in text.splitlines() if line.strip()][-LOG_LINES:]
    joined = " | ".join(lines)
    return joined if len(joined) <= LOG_CHARS else "..." + joined[-LOG_CHARS:]


def _live(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pods not on their way out (an old replica being deleted says nothing about the new one)."""
    return [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]


def explain(reader: Reader, verdict: Verdict) -> str:
    """Why the model is not ready, on one line: what the system says, its Pods, its server's last log."""
    said = [verdict.waiting] if verdict.waiting else []
    if verdict.pods is None:
        return "; ".join(said)
    pods = _live(reader.list(PODS, verdict.pods))
    if not pods:
        said.append("no pods yet")
    said += pod_states(pods)
    for pod in pods[:PODS_SHOWN]:
        for container in crashed(pod, verdict.containers):
            try:
                text = log_tail(reader.log(pod["metadata"]["name"], container, LOG_LINES * 4))
            except Exception as err:  # a log that cannot be read must not hide the reason
                text = f"(log unreadable: {err})"
            if text:
                said.append(f"log of {pod['metadata']['name']}/{container}: {text}")
    return "; ".join(s for s in said if s)


def progress(reader: Reader, verdict: Verdict) -> str:
    """The status line while waiting: what the system says, and its first unready Pod."""
    if verdict.pods is None:
        return verdict.waiting
    pods = _live(reader.list(PODS, verdict.pods))
    states = pod_states(pods)[:1]
    return ", ".join([verdict.waiting, *states]) if states else verdict.waiting
