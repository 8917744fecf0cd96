"""Backend `seldon`: a Seldon Core 1 SeldonDeployment per model, on a prepackaged model server.

Seldon Core exposes each deployment itself, through its Istio gateway, under
`/seldon/<namespace>/<name>/`; the storage initializer (rclone) reads the bucket's keys from the Secret the
graph names in `envSecretRefName`.
"""

from __future__ import annotations

from typing import Annotated, Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BeforeValidator

from components.config.base import Settings, section
from components.config.entries import RuntimeSettings, RuntimeVersionSettings
from components.config.readers import _gateway, _matching, gateway_ref
from components.serving import Backend, BackendArgs, Plan, Urls
from kernel.backends import SELDON
from kernel.names import DNS_LABEL


class SeldonConfig(Settings):
    """Seldon Core: where its Istio gateway exposes deployments."""

    gateway: Annotated[str, BeforeValidator(_gateway)] = "seldon"
    """The Istio Gateway Seldon routes deployments through: a bare name lives in the servers' namespace
    (FuseML's installer creates `seldon` there), or <namespace>/<name>."""
    host_prefix: Annotated[str, _matching(DNS_LABEL, "a DNS label")] = "seldon"
    """A Seldon model's host is <app_name>.<host_prefix>.<domain> (FuseML's seldon gateway, *.seldon)."""


class SeldonStackSettings(Settings):
    """The stack-level keys of the Seldon backend."""

    seldon: SeldonConfig = section()
    """Seldon Core settings."""

API_VERSION = "machinelearning.seldon.io/v1"
KIND = "SeldonDeployment"
#: The prepackaged servers' wire protocols (seldon-core v1.18.2 helm-charts/seldon-core-operator
#: values.yaml predictor_servers): TensorFlow Serving speaks its own (the v1 URL the tutorial used), the
#: others the v2 open inference protocol, the only one Triton has there.
PROTOCOLS = {"TENSORFLOW_SERVER": "tensorflow"}
DEFAULT_PROTOCOL = "v2"


class SeldonModel(Backend):
    """One model as a SeldonDeployment (and, for S3, the rclone Secret its storage initializer reads)."""

    NAME = "seldon"
    PRODUCT = "Seldon Core"
    UPSTREAM = SELDON
    FORMATS = {
        "sklearn": "SKLEARN_SERVER",
        "xgboost": "XGBOOST_SERVER",
        "tensorflow": "TENSORFLOW_SERVER",
        "keras": "TENSORFLOW_SERVER",
        "onnx": "TRITON_SERVER",
        "lightgbm": "MLFLOW_SERVER",
        "pytorch": "MLFLOW_SERVER",
        "mlflow": "MLFLOW_SERVER",
    }
    #: `runtime` names the prepackaged server (TRITON_SERVER for ONNX or TensorFlow under Triton).
    MODEL_SETTINGS = (RuntimeSettings, RuntimeVersionSettings)
    STACK_SETTINGS = SeldonStackSettings
    KIND = KIND
    #: rclone reads s3:// with the Secret this backend writes, and a claim path; gs:// would need rclone
    #: GCS variables this program does not write, so it is refused rather than left to fail.
    SCHEMES = ("s3", "")
    LETTER_FIRST = True
    IGNORES = {"model_name": "the model's name in Seldon's URLs is the deployment's, the app name"}

    @classmethod
    def name_of(cls, model: Any) -> str:
        # The tutorial's names: the deployment, its graph and its model are all called after the app.
        return model.app_name

    @classmethod
    def refusals(cls, model: Any, plan: Plan) -> list[tuple[str, Any, str]]:
        found = [f for f in super().refusals(model, plan) if f[0] != "runtime"]
        if plan.runtime not in IMAGES:
            found.append(("runtime", plan.runtime, f"a prepackaged server: one of {', '.join(IMAGES)}"))
        elif "prediction_type" in model.model_fields_set and PROTOCOLS.get(plan.runtime) != "tensorflow":
            found.append((
                "prediction_type",
                model.prediction_type,
                f"nothing with {plan.runtime}: it speaks the v2 protocol, which has no verbs",
            ))  # fmt: skip
        return found

    @classmethod
    def urls(cls, cfg: Any, model: Any, plan: Plan) -> Urls:
        """`<app>.<seldon.host_prefix>.<domain>/seldon/<namespace>/<app>/...`, the tutorial's shape."""
        host = f"{model.app_name}.{cfg.seldon.host_prefix}.{cfg.istio.domain}"
        base = f"http://{host}/seldon/{cfg.namespace}/{model.app_name}"
        v2 = f"{base}/v2/models/{model.app_name}/infer"
        if PROTOCOLS.get(plan.runtime) == "tensorflow":
            return Urls(host, f"{base}/v1/models/{model.app_name}:{model.prediction_type}", v2)
        return Urls(host, v2, v2)

    def objects(self, name: str, args: BackendArgs) -> list[pulumi.Resource]:
        model, namespace = args["model"], args["namespace"]
        made: list[pulumi.Resource] = []
        secret = _rclone_secret(self, name, args, made)
        annotations = {
            ISTIO_GATEWAY: "/".join(gateway_ref(args["stack"].seldon.gateway, namespace)),
            ISTIO_HOST: args["urls"].host,
        }
        spec_ = spec(model, args["plan"].runtime, secret, args["node_affinity"], args["storage"])
        made.append(
            self.custom_object(name, args, API_VERSION, spec_, annotations=annotations, depends_on=list(made))
        )
        return made


def spec(
    model: Any,
    implementation: str,
    secret: str | None,
    node_affinity: dict[str, Any] | None,
    storage: Any,
) -> dict[str, Any]:
    """The SeldonDeployment spec: one predictor whose graph is the prepackaged server of the format."""
    uri = model.model
    if model.storage_scheme == "":
        uri = f"pvc://{storage.models_volume_claim}/{model.model.removeprefix('/models/')}"
    graph: dict[str, Any] = {"name": model.app_name, "implementation": implementation, "modelUri": uri}
    if secret:
        graph["envSecretRefName"] = secret
    pod: dict[str, Any] = {
        "containers": [
            {
                "name": model.app_name,
                "resources": {"requests": dict(model.requests), "limits": dict(model.limits)},
            }
        ]
    }
    if model.runtime_version:
        pod["containers"][0]["image"] = f"{IMAGES[implementation]}:{model.runtime_version}"
    if node_affinity:
        pod["affinity"] = {"nodeAffinity": node_affinity}
    return {
        "protocol": PROTOCOLS.get(implementation, DEFAULT_PROTOCOL),
        "predictors": [
            {"name": "default", "replicas": model.replicas, "graph": graph, "componentSpecs": [{"spec": pod}]}
        ],
    }


#: The prepackaged servers' images for those protocols (the same predictor_servers), for
#: `runtime_version`: the mlserver tags carry the flavour, e.g. 1.3.5-sklearn.
IMAGES = {
    "SKLEARN_SERVER": "seldonio/mlserver",
    "XGBOOST_SERVER": "seldonio/mlserver",
    "MLFLOW_SERVER": "seldonio/mlserver",
    "TENSORFLOW_SERVER": "tensorflow/serving",
    "TRITON_SERVER": "nvcr.io/nvidia/tritonserver",
}
#: Where the operator routes a deployment (seldondeployment_controller.go): these annotations override its
#: ISTIO_GATEWAY and its `*` host.
ISTIO_GATEWAY = "seldon.io/istio-gateway"
ISTIO_HOST = "seldon.io/istio-host"


def _rclone_secret(
    parent: pulumi.Resource, name: str, args: BackendArgs, made: list[pulumi.Resource]
) -> str | None:
    """The Secret of RCLONE_CONFIG_S3_* variables Seldon's rclone storage initializer reads, for S3.

    The variables are those of seldon-core v1.18.2 doc/source/servers/overview.md ("Rclone remotes can be
    configured using the environmental variables: RCLONE_CONFIG_<remote name>_<config variable>"), whose
    MinIO example sets TYPE, PROVIDER, ENV_AUTH, ACCESS_KEY_ID, SECRET_ACCESS_KEY and ENDPOINT.
    """
    model, credentials, storage = args["model"], args["credentials"], args["storage"]
    if model.storage_scheme != "s3":
        return None
    secret = f"{model.app_name}-seldon-s3"
    data = {
        "RCLONE_CONFIG_S3_TYPE": "s3",
        "RCLONE_CONFIG_S3_PROVIDER": "Minio" if storage.s3_endpoint else "AWS",
        "RCLONE_CONFIG_S3_ENV_AUTH": "false",
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID": credentials["aws_access_key_id"],
        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
    }
    if storage.s3_endpoint:
        data["RCLONE_CONFIG_S3_ENDPOINT"] = storage.s3_endpoint
    if storage.aws_region:
        data["RCLONE_CONFIG_S3_REGION"] = storage.aws_region
    made.append(
        k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata={"name": secret, "namespace": args["namespace"], "labels": args["labels"]},
            string_data=data,
            opts=pulumi.ResourceOptions(parent=parent),
        )
    )
    return secret
