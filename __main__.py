"""fuseml-serving: OpenVINO Model Server on GKE for FuseML, one server per configured model."""

from components.program import run

run()
