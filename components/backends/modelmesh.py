"""Backend `modelmesh`: a ModelMesh InferenceService per model, co-located with others in shared runtimes.

ModelMesh Serving places many models into a few runtime pods (the built-in ServingRuntimes: ovms-1.x for
OpenVINO IR and ONNX, triton-2.x, mlserver-1.x) behind one Service, `modelmesh-serving`, speaking gRPC
(8033) and, through its REST proxy, the v2 REST protocol (8008). It reads bucket credentials from the
namespace's `storage-config` Secret, one JSON entry per storage key (seed 001, "storage-config").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config.entries import RuntimeSettings
from components.config.sections import StorageConfig
from components.serving import Backend, BackendArgs, Plan, Urls
from kernel.backends import MODELMESH

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
DEPLOYMENT_MODE = {"serving.kserve.io/deploymentMode": "ModelMesh"}
SERVICE = "modelmesh-serving"
GRPC_PORT = 8033
REST_PORT = 8008
STORAGE_SECRET = "storage-config"
#: Runtimes whose protocolVersions are grpc-v1 only (modelmesh-builtin-runtimes/ovms-1.x.yaml): ModelMesh
#: adds the REST proxy's v2 only for grpc-v2 runtimes (modelmesh-serving controllers model_type_labels.go).
GRPC_V1_ONLY = ("ovms-1.x",)
#: Our format word -> the modelFormat name the built-in runtimes declare (modelmesh-builtin-runtimes).
MODEL_FORMATS = {
    "openvino": "openvino_ir",
    "onnx": "onnx",
    "tensorflow": "tensorflow",
    "keras": "keras",
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
}


class ModelMeshModel(Backend):
    """One model as a ModelMesh InferenceService, with an Istio route to the shared REST proxy."""

    NAME = "modelmesh"
    PRODUCT = "ModelMesh Serving"
    UPSTREAM = MODELMESH
    #: The format -> the built-in runtime (seed 001's framework-to-runtime mapping, with OVMS for IR and
    #: ONNX, the fastest on Intel CPUs).
    FORMATS = {
        "openvino": "ovms-1.x",
        "onnx": "ovms-1.x",
        "tensorflow": "triton-2.x",
        "keras": "triton-2.x",
        "sklearn": "mlserver-1.x",
        "xgboost": "mlserver-1.x",
        "lightgbm": "mlserver-1.x",
    }
    MODEL_SETTINGS = (RuntimeSettings,)
    KIND = KIND
    SCHEMES = ("s3",)
    ROUTE = (SERVICE, REST_PORT)
    LETTER_FIRST = True
    IGNORES = {
        "model_name": "the model's name in ModelMesh's APIs is the InferenceService's, the app name",
        "replicas": "the model lives in shared runtime pods, which ModelMesh scales itself",
        "resources": "the model lives in shared runtime pods, sized by their ServingRuntime",
        "resources_limits": "the model lives in shared runtime pods, sized by their ServingRuntime",
        "prediction_type": "ModelMesh speaks the v2 protocol, which has no verbs",
    }

    @classmethod
    def name_of(cls, model: Any) -> str:
        return model.app_name

    @classmethod
    def route(cls, plan: Plan) -> tuple[str, int] | None:
        # The REST proxy translates to the v2 gRPC API only: a grpc-v1 runtime has no REST to route to.
        return cls.ROUTE if plan.runtime not in GRPC_V1_ONLY else None

    @classmethod
    def urls(cls, cfg: Any, model: Any, plan: Plan) -> Urls:
        """REST v2 on the model's host (routed to the REST proxy), and gRPC in the cluster; for a grpc-v1
        runtime (ovms-1.x) the gRPC endpoint only, speaking the TensorFlow Serving API."""
        grpc = f"grpc://{SERVICE}.{cfg.namespace}:{GRPC_PORT}"
        host = cfg.istio.host(model.app_name)
        if plan.runtime in GRPC_V1_ONLY:
            # The form ModelMesh shows in an InferenceService's URL (seed 001): the model named in the query.
            return Urls(host, f"{grpc}?mm-vmodel-id={model.app_name}", "", grpc)
        v2 = f"http://{host}/v2/models/{model.app_name}/infer"
        return Urls(host, v2, v2, grpc)

    @classmethod
    def prerequisites(
        cls,
        cfg: Any,
        planned: Mapping[str, Plan],
        labels: dict[str, str],
        provider: pulumi.ProviderResource,
        after: list[Any],
    ) -> list[Any]:
        """The namespace's storage-config Secret, for the buckets its models read."""
        models = [m for m in cfg.models if planned[m.app_name].backend == cls.NAME]
        if not models:
            return []
        opts = pulumi.ResourceOptions(provider=provider)
        return [storage_config(cfg, models, cfg.credentials, labels, opts)]

    def objects(self, name: str, args: BackendArgs) -> list[pulumi.Resource]:
        model = args["model"]
        bucket, _, path = model.model.removeprefix("s3://").partition("/")
        served = {
            "modelFormat": {"name": MODEL_FORMATS[args["plan"].format]},
            "runtime": args["plan"].runtime,
            "storage": {"key": storage_key(bucket), "path": path},
        }
        return [
            self.custom_object(
                name, args, API_VERSION, {"predictor": {"model": served}}, annotations=dict(DEPLOYMENT_MODE)
            )
        ]


def storage_key(bucket: str) -> str:
    """The storage-config entry of a bucket."""
    return f"s3-{bucket}"


def storage_config(
    cfg: Any,
    models: list[Any],
    credentials: Mapping[str, pulumi.Input[str]],
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> pulumi.Resource:
    """The namespace's `storage-config` Secret: one entry per bucket the ModelMesh models read.

    Each entry is JSON holding the keys, built from the secret Outputs, so it stays a secret end to end.
    """
    buckets = sorted({m.model.removeprefix("s3://").partition("/")[0] for m in models})
    keys = pulumi.Output.all(credentials["aws_access_key_id"], credentials["aws_secret_access_key"])
    data = {
        storage_key(bucket): keys.apply(lambda k, b=bucket: _entry(b, k, cfg.storage)) for bucket in buckets
    }
    return k8s.core.v1.Secret(
        "modelmesh-storage-config",
        metadata={"name": STORAGE_SECRET, "namespace": cfg.namespace, "labels": labels},
        string_data=data,
        opts=opts,
    )


def _entry(bucket: str, keys: list[str], storage: StorageConfig) -> str:
    entry: dict[str, Any] = {
        "type": "s3",
        "access_key_id": keys[0],
        "secret_access_key": keys[1],
        "bucket": bucket,
        "endpoint_url": storage.s3_endpoint or "https://s3.amazonaws.com",
    }
    if storage.aws_region:
        entry["region"] = storage.aws_region
    return json.dumps(entry)
