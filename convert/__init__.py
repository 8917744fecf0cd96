"""The FuseML converter step: MLflow models to OpenVINO IR in the layout OVMS loads (`python -m convert`)."""
