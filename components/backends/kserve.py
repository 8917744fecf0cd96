"""Backend `kserve`: a KServe InferenceService per model, with KServe's own runtimes and exposure.

OpenVINO IR and ONNX run on OpenVINO Model Server through the `kserve-openvino` ClusterServingRuntime,
which the stack installs when `kserve.openvino_runtime` is true; the other formats use the runtimes KServe
ships. Credentials reach the storage initializer the way KServe reads them: a Secret (S3 keys, with
KServe's S3 annotations) attached to a ServiceAccount that the predictor runs as.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BeforeValidator

from components.config.base import Settings, section
from components.config.entries import RuntimeSettings, RuntimeVersionSettings
from components.config.readers import _bool, _one_of, _pinned_tag
from components.config.sections import MODELS_MOUNT, StorageConfig
from components.serving import Backend, BackendArgs, Plan, Site, Urls
from kernel.backends import KSERVE, OVMS_IMAGE, OVMS_RELEASE
from kernel.names import NAMESPACE


class KServeConfig(Settings):
    """KServe: the OpenVINO Model Server runtime this stack can install for it."""

    openvino_runtime: Annotated[bool, BeforeValidator(_bool)] = False
    """Install the `kserve-openvino` ClusterServingRuntime (OVMS under KServe, for OpenVINO IR and ONNX);
    leave false when the cluster's KServe already has it."""
    openvino_image_tag: Annotated[str, BeforeValidator(_pinned_tag)] = OVMS_RELEASE
    """The `openvino/model_server` tag of that runtime: the newest release that still serves the v1
    (TensorFlow Serving) protocol the runtime offers; a pinned older tag is kept as it is."""


class KServeStackSettings(Settings):
    """The stack-level keys of the KServe backend."""

    kserve: KServeConfig = section()
    """KServe settings."""


class ProtocolSettings(Settings):
    """The model keys only KServe reads."""

    protocol_version: Annotated[Literal["v1", "v2"] | None, _one_of(("v1", "v2"), str.lower)] = None
    """kserve: the inference protocol (v1 TensorFlow-Serving style, v2 open inference); unset, the
    runtime's default."""

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
RUNTIME_API_VERSION = "serving.kserve.io/v1alpha1"
#: KServe's OVMS runtime (kserve config/runtimes/kserve-openvino.yaml, v0.20.0), which KServe ships but
#: neither its kustomization nor its chart installs, with an `openvino/model_server:replace` image: the
#: stack installs it, under the same name, when kserve.openvino_runtime is true.
OPENVINO_RUNTIME = "kserve-openvino"
OPENVINO_IMAGE = OVMS_IMAGE
#: Our format word -> KServe's modelFormat name (the runtimes' supportedModelFormats names).
MODEL_FORMATS = {
    "openvino": "openvino",
    "onnx": "onnx",
    "tensorflow": "tensorflow",
    "keras": "tensorflow",
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "pytorch": "mlflow",
    "mlflow": "mlflow",
}
#: KServe's shipped ClusterServingRuntimes: the modelFormat names each supports and the REST protocols it
#: speaks (kserve v0.20.0 config/runtimes/kserve-*.yaml, supportedModelFormats and protocolVersions). The
#: controller refuses an InferenceService whose named runtime does not list its modelFormat ("Specified
#: runtime does not support specified framework/version", pkg/controller/v1beta1/inferenceservice/
#: components/predictor.go reconcileModel), after the objects exist: the plan refuses it first.
RUNTIMES: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    OPENVINO_RUNTIME: (frozenset({"openvino", "onnx", "tensorflow", "huggingface"}), ("v1", "v2")),
    "kserve-tensorflow-serving": (frozenset({"tensorflow"}), ("v1",)),
    "kserve-sklearnserver": (frozenset({"sklearn"}), ("v1", "v2")),
    "kserve-xgbserver": (frozenset({"xgboost"}), ("v1", "v2")),
    "kserve-lgbserver": (frozenset({"lightgbm"}), ("v1", "v2")),
    "kserve-mlserver": (frozenset({"sklearn", "xgboost", "lightgbm", "mlflow"}), ("v2",)),
    "kserve-tritonserver": (frozenset({"tensorrt", "tensorflow", "onnx", "pytorch", "triton"}), ("v2",)),
    "kserve-torchserve": (frozenset({"pytorch"}), ("v1", "v2")),
    "kserve-predictiveserver": (frozenset({"sklearn", "xgboost", "lightgbm"}), ("v1", "v2")),
    "kserve-pmmlserver": (frozenset({"pmml"}), ("v1", "v2")),
    "kserve-paddleserver": (frozenset({"paddle"}), ("v1", "v2")),
    "kserve-autogluonserver": (frozenset({"autogluon"}), ("v1", "v2")),
    "kserve-huggingfaceserver": (frozenset({"huggingface"}), ("v1", "v2")),
}
#: The protocols each runtime speaks, from RUNTIMES.
PROTOCOLS = {name: protocols for name, (_, protocols) in RUNTIMES.items()}
#: The v1 verbs beyond :predict: TensorFlow Serving's classify and regress APIs; KServe's own Python
#: servers answer :predict (and :explain) only (kserve python/kserve/kserve/protocol/rest/v1_endpoints.py).
VERBS = {"kserve-tensorflow-serving": ("predict", "classify", "regress")}
#: KServe's S3 Secret annotations (kserve pkg/credentials/s3/s3_secret.go); its data keys are the
#: AWS_* names of the shipped config (config/configmap/inferenceservice.yaml, credentials.s3).
S3_ENDPOINT = "serving.kserve.io/s3-endpoint"
S3_USE_HTTPS = "serving.kserve.io/s3-usehttps"
S3_REGION = "serving.kserve.io/s3-region"
#: The key KServe reads a GCS service-account key from (kserve pkg/credentials/gcs/gcs_secret.go).
GCS_KEY = "gcloud-application-credentials.json"


class KServeModel(Backend):
    """One model as a KServe InferenceService (and, for S3 or GCS, its Secret and ServiceAccount)."""

    NAME = "kserve"
    PRODUCT = "KServe"
    UPSTREAM = KSERVE
    AUTO_RANK = 1
    #: The format -> the runtime that serves it (KServe v0.20.0 config/runtimes). PyTorch models from
    #: MLflow are pickles, not TorchServe archives: MLServer's MLflow runtime (format mlflow) loads them.
    FORMATS = {
        "openvino": OPENVINO_RUNTIME,
        "onnx": OPENVINO_RUNTIME,
        "tensorflow": "kserve-tensorflow-serving",
        "keras": "kserve-tensorflow-serving",
        "sklearn": "kserve-sklearnserver",
        "xgboost": "kserve-xgbserver",
        "lightgbm": "kserve-lgbserver",
        "pytorch": "kserve-mlserver",
        "mlflow": "kserve-mlserver",
    }
    MODEL_SETTINGS = (RuntimeSettings, RuntimeVersionSettings, ProtocolSettings)
    STACK_SETTINGS = KServeStackSettings
    KIND = KIND
    LETTER_FIRST = True
    IGNORES = {"model_name": "the model's name in KServe's URLs is the InferenceService's, the app name"}
    SCHEMES = ("s3", "gs", "")

    @classmethod
    def urls(cls, cfg: Any, model: Any, plan: Plan) -> Urls:
        """KServe's own host in its default (Knative) mode, `<name>.<namespace>.<domain>`: the predictor's
        Knative host with `-predictor` stripped (kserve ingress_reconciler.go getServiceHost), as in the
        tutorial's `cifar10-kserve.fuseml-workloads.<domain>`; the v1 and v2 paths of KServe's servers."""
        host = f"{model.app_name}.{cfg.namespace}.{cfg.istio.domain}"
        name = model.app_name
        v2 = f"http://{host}/v2/models/{name}/infer"
        if cls.protocol(model, plan) == "v2":
            return Urls(host, v2, v2)
        return Urls(host, f"http://{host}/v1/models/{name}:{model.prediction_type}", v2)

    @classmethod
    def name_of(cls, model: Any) -> str:
        # FuseML's kserve step names the InferenceService after the app, and the tutorial's URLs show it.
        return model.app_name

    @classmethod
    def protocol(cls, model: Any, plan: Plan) -> str:
        """The protocol the server speaks: the one asked for, else v1 where the runtime has it."""
        offered = PROTOCOLS.get(plan.runtime, ("v1", "v2"))
        return model.protocol_version or ("v1" if "v1" in offered else "v2")

    @classmethod
    def refusals(cls, model: Any, plan: Plan) -> list[tuple[str, Any, str]]:
        found = super().refusals(model, plan)
        offered = PROTOCOLS.get(plan.runtime, ("v1", "v2"))
        if model.protocol_version and model.protocol_version not in offered:
            found.append((
                "protocol_version",
                model.protocol_version,
                f"one of {', '.join(offered)}: runtime {plan.runtime} speaks no other",
            ))  # fmt: skip
        served = RUNTIMES.get(plan.runtime, (None, ()))[0]
        wanted = MODEL_FORMATS.get(plan.format)
        if served is not None and wanted is not None and wanted not in served:
            others = [name for name, (formats, _) in RUNTIMES.items() if wanted in formats]
            found.append((
                "runtime",
                plan.runtime,
                f"a runtime that serves {wanted} models ({', '.join(others)}): KServe refuses "
                f"{plan.runtime} for them (it serves {', '.join(sorted(served))})",
            ))  # fmt: skip
        verbs = VERBS.get(plan.runtime, ("predict",))
        if "prediction_type" in model.model_fields_set:
            if cls.protocol(model, plan) != "v1":
                found.append((
                    "prediction_type",
                    model.prediction_type,
                    f"no prediction_type key: runtime {plan.runtime} serves this model on the v2 protocol, "
                    "whose URLs have no verb",
                ))  # fmt: skip
            elif model.prediction_type not in verbs:
                found.append((
                    "prediction_type",
                    model.prediction_type,
                    f"{' or '.join(verbs)}: the v1 API of runtime {plan.runtime} answers no other verb",
                ))  # fmt: skip
        return found

    @classmethod
    def prerequisites(cls, site: Site) -> list[Any]:
        """The kserve-openvino ClusterServingRuntime, when the stack installs it."""
        if not site.cfg.kserve.openvino_runtime:
            return []
        opts = pulumi.ResourceOptions(provider=site.provider)
        return [openvino_runtime(site.cfg.kserve.openvino_image_tag, site.labels, opts)]

    @classmethod
    def stack_notices(cls, cfg: Any, planned: Mapping[str, Plan]) -> list[str]:
        users = [
            app
            for app, plan in planned.items()
            if plan.backend == cls.NAME and plan.runtime == OPENVINO_RUNTIME
        ]
        if not users or cfg.kserve.openvino_runtime:
            return []
        return [
            f"{NAMESPACE}: {', '.join(users)} run on KServe's {OPENVINO_RUNTIME} runtime, which KServe's "
            "release does not install: set kserve.openvino_runtime: true, or install it, or the "
            "InferenceService waits for a runtime"
        ]

    def objects(self, name: str, args: BackendArgs) -> list[pulumi.Resource]:
        model = args["model"]
        made: list[pulumi.Resource] = []
        account = _credentials(self, name, args, made)
        plan = args["plan"]
        protocol = self.protocol(model, plan)
        spec_ = spec(
            model, args["storage"], plan.format, plan.runtime, protocol, account, args["node_affinity"]
        )
        made.append(self.custom_object(name, args, API_VERSION, spec_, depends_on=list(made)))
        return made


def spec(
    model: Any,
    storage: StorageConfig,
    fmt: str,
    runtime: str,
    protocol: str,
    account: str | None,
    node_affinity: dict[str, Any] | None,
) -> dict[str, Any]:
    """The InferenceService spec: the model's format, runtime, storage and resources."""
    served: dict[str, Any] = {
        "modelFormat": {"name": MODEL_FORMATS[fmt]},
        "runtime": runtime,
        "storageUri": storage_uri(model, storage),
        "resources": {"requests": dict(model.requests), "limits": dict(model.limits)},
    }
    served["protocolVersion"] = protocol
    if model.runtime_version:
        served["runtimeVersion"] = model.runtime_version
    predictor: dict[str, Any] = {"minReplicas": model.replicas, "model": served}
    if account:
        predictor["serviceAccountName"] = account
    if node_affinity:
        predictor["affinity"] = {"nodeAffinity": node_affinity}
    return {"predictor": predictor}


def storage_uri(model: Any, storage: StorageConfig) -> str:
    """The model's URL as KServe's storage initializer reads it: a path on the claim is pvc://<claim>/..."""
    if model.storage_scheme == "":
        return f"pvc://{storage.models_volume_claim}/{model.model.removeprefix(MODELS_MOUNT + '/')}"
    return model.model


def _credentials(
    parent: pulumi.Resource, name: str, args: BackendArgs, made: list[pulumi.Resource]
) -> str | None:
    """The ServiceAccount the predictor runs as, with a Secret of the keys its storage needs; None when the
    storage needs none."""
    model, namespace, credentials = args["model"], args["namespace"], args["credentials"]
    account = f"{model.app_name}-kserve"
    storage = args["storage"]
    if model.storage_scheme == "s3":
        annotations = {S3_USE_HTTPS: "1"}
        if storage.s3_endpoint:
            endpoint = urlsplit(storage.s3_endpoint)
            annotations = {
                S3_ENDPOINT: endpoint.netloc or storage.s3_endpoint,
                S3_USE_HTTPS: "0" if endpoint.scheme == "http" else "1",
            }
        if storage.aws_region:
            annotations[S3_REGION] = storage.aws_region
        data = {
            "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
        }
    elif model.storage_scheme == "gs" and credentials.get("gcs_credentials") is not None:
        annotations, data = {}, {GCS_KEY: credentials["gcs_credentials"]}
    else:
        return None
    secret = k8s.core.v1.Secret(
        f"{name}-credentials",
        metadata={
            "name": account,
            "namespace": namespace,
            "labels": args["labels"],
            "annotations": annotations,
        },
        string_data=data,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    made.append(secret)
    made.append(
        k8s.core.v1.ServiceAccount(
            f"{name}-account",
            metadata={"name": account, "namespace": namespace, "labels": args["labels"]},
            secrets=[{"name": account}],
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[secret]),
        )
    )
    return account


def openvino_runtime(image_tag: str, labels: dict[str, str], opts: pulumi.ResourceOptions) -> pulumi.Resource:
    """The `kserve-openvino` ClusterServingRuntime: OVMS serving one model from KServe's /mnt/models.

    KServe's own definition (v0.20.0 config/runtimes/kserve-openvino.yaml) with a pinned image: REST on
    the predictor port 8080, gRPC on 9000, no polling (KServe restarts the pod for a new model).
    """
    return k8s.apiextensions.CustomResource(
        "kserve-openvino-runtime",
        api_version=RUNTIME_API_VERSION,
        kind="ClusterServingRuntime",
        metadata={"name": OPENVINO_RUNTIME, "labels": labels},
        spec={
            "annotations": {"prometheus.kserve.io/path": "/metrics", "prometheus.kserve.io/port": "8080"},
            "supportedModelFormats": [
                {"name": "openvino", "version": "10", "autoSelect": True, "priority": 1},
                {"name": "onnx", "version": "1", "autoSelect": True, "priority": 2},
                {"name": "tensorflow", "version": "1", "autoSelect": True, "priority": 3},
            ],
            "protocolVersions": ["v1", "v2", "grpc-v2"],
            "multiModel": False,
            "containers": [
                {
                    "name": "kserve-container",
                    "image": f"{OPENVINO_IMAGE}:{image_tag}",
                    "args": [
                        "--model_name={{.Name}}",
                        "--model_path=/mnt/models",
                        "--port=9000",
                        "--rest_port=8080",
                        "--file_system_poll_wait_seconds=0",
                    ],
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {
                        "requests": {"cpu": "1", "memory": "2Gi"},
                        "limits": {"cpu": "1", "memory": "2Gi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "privileged": False,
                        "runAsNonRoot": True,
                        "runAsUser": 5000,
                    },
                }
            ],
        },
        opts=opts,
    )
