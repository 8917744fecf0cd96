"""Which source formats have no OpenVINO IR, and which backend of this project serves each instead."""

from __future__ import annotations

#: What the converter refuses, and which serving backend of this project serves the format instead
#: (issue 10's backends: KServe's MLServer runtimes and Seldon's prepackaged servers).
NO_IR = {
    "sklearn": "scikit-learn models have no OpenVINO IR: serve them with backend kserve (MLServer sklearn) "
    "or seldon (SKLEARN_SERVER)",
    "xgboost": "XGBoost models have no OpenVINO IR: serve them with backend kserve (MLServer xgboost) "
    "or seldon (XGBOOST_SERVER)",
    "lightgbm": "LightGBM models have no OpenVINO IR: serve them with backend kserve (MLServer lightgbm)",
    "mlflow": "a pyfunc-only MLflow model has no OpenVINO IR: serve it with backend kserve (MLServer mlflow) "
    "or seldon (MLFLOW_SERVER)",
}
