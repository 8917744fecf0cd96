"""Read a model folder from s3://, gs://, az://, azfs:// or a local path, and tell its format.

One implementation for the whole project: the converter (`python -m convert`) and the Pulumi program's
backend choice call the same functions. Pure Python: boto3 is imported when an s3:// store is opened, the
GCS and Azure clients when one of theirs is, so importing this package costs nothing and needs neither
pulumi nor openvino.

    from modelstore import StoreError, detect, open_store
    found = detect("s3://mlflow/0/abc/artifacts/model", credentials, endpoint="http://minio:9000")
    found.format      # "onnx"
    found.evidence    # "MLmodel flavor onnx (data: model.onnx)"
    found = detect_many(urls, settings)   # url -> Detected or StoreError, concurrently, each store bounded
"""

from __future__ import annotations

from modelstore.detect import FORMATS, Detected, detect, detect_in
from modelstore.errors import StoreError
from modelstore.many import detect_many
from modelstore.stores import (
    DEFAULT_READ_TIMEOUT_S,
    Store,
    StoreSettings,
    credentials_from_env,
    open_store,
    settings_from_env,
)

__all__ = [
    "DEFAULT_READ_TIMEOUT_S",
    "FORMATS",
    "Detected",
    "Store",
    "StoreError",
    "StoreSettings",
    "credentials_from_env",
    "detect",
    "detect_in",
    "detect_many",
    "open_store",
    "settings_from_env",
]
