"""Backend `modelmesh`: a ModelMesh InferenceService per model, co-located with others in shared runtimes.

ModelMesh Serving places many models into a few runtime pods (the built-in ServingRuntimes: ovms-1.x for
OpenVINO IR and ONNX, triton-2.x, mlserver-1.x) behind one Service, `modelmesh-serving`, speaking gRPC
(8033) and, through its REST proxy, the v2 REST protocol (8008). It reads bucket credentials from the
namespace's `storage-config` Secret, one JSON entry per storage key (seed 001, "storage-config").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.config.entries import RuntimeSettings
from components.config.sections import StorageConfig
from components.serving import Backend, BackendArgs, Plan, Site, Urls
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
#: The built-in runtimes and the modelFormat names each supports (modelmesh-serving v0.12.0
#: config/runtimes/*.yaml, supportedModelFormats): ModelMesh places a model only on a runtime that lists
#: its format, so a named runtime that does not is refused before anything exists.
RUNTIME_FORMATS = {
    "ovms-1.x": frozenset({"openvino_ir", "onnx"}),
    "triton-2.x": frozenset(
        {"keras", "onnx", "pytorch", "tensorflow", "tensorrt", "sklearn", "xgboost", "lightgbm"}
    ),
    "mlserver-1.x": frozenset({"sklearn", "xgboost", "lightgbm"}),
    "torchserve-0.x": frozenset({"pytorch-mar"}),
}
#: The region of an S3 storage entry when the stack names none: AWS's default region.
DEFAULT_S3_REGION = "us-east-1"
#: A Secret's data key (k8s.io/apimachinery pkg/util/validation IsConfigMapKey): at most 253 of these.
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
SECRET_KEY_MAX = 253
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
    def refusals(cls, model: Any, plan: Plan) -> list[tuple[str, Any, str]]:
        found = super().refusals(model, plan)
        wanted = MODEL_FORMATS.get(plan.format)
        served = RUNTIME_FORMATS.get(plan.runtime)
        if served is not None and wanted is not None and wanted not in served:
            others = [name for name, formats in RUNTIME_FORMATS.items() if wanted in formats]
            found.append((
                "runtime",
                plan.runtime,
                f"a runtime that serves {wanted} models ({', '.join(others)}): ModelMesh places no {wanted} "
                f"model on {plan.runtime} (it serves {', '.join(sorted(served, key=_declared))})",
            ))  # fmt: skip
        key = storage_key(bucket_of(model.model))
        if len(key) > SECRET_KEY_MAX or not SECRET_KEY.fullmatch(key):
            found.append((
                "model",
                model.model,
                "an s3:// URL whose bucket makes a storage-config key of letters, digits, '-', '_' and "
                f"'.' (at most {SECRET_KEY_MAX}): ModelMesh reads the bucket's keys from the Secret entry "
                f"{key!r}",
            ))  # fmt: skip
        return found

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
    def prerequisites(cls, site: Site) -> list[Any]:
        """The namespace's storage-config Secret, for the buckets its models read."""
        cfg = site.cfg
        models = [m for m in cfg.models if site.planned[m.app_name].backend == cls.NAME]
        if not models:
            return []
        opts = pulumi.ResourceOptions(provider=site.provider)
        return [storage_config(cfg, models, cfg.credentials, site.labels, opts)]

    def objects(self, name: str, args: BackendArgs) -> list[pulumi.Resource]:
        model = args["model"]
        bucket, path = bucket_of(model.model), model.model.removeprefix("s3://").partition("/")[2]
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


def _declared(name: str) -> int:
    """A runtime's formats in the order its YAML declares them, for messages."""
    order = ("openvino_ir", "keras", "onnx", "pytorch", "tensorflow", "tensorrt", "sklearn", "xgboost")
    return order.index(name) if name in order else len(order) + ("lightgbm", "pytorch-mar").index(name)


def bucket_of(url: str) -> str:
    """The bucket of an s3:// model URL."""
    return url.removeprefix("s3://").partition("/")[0]


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
    buckets = sorted({bucket_of(m.model) for m in models})
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
        # The runtime adapter refuses an entry without a region ("missing required string configuration
        # 'region'", modelmesh-runtime-adapter v0.12.0 pullman/storageproviders/s3/provider.go): S3's own
        # default region when the stack names none (an S3-compatible endpoint such as MinIO ignores it).
        "region": storage.aws_region or DEFAULT_S3_REGION,
    }
    return json.dumps(entry)
