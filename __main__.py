"""fuseml-serving: OpenVINO Model Server on GKE for FuseML, one server per configured model."""

import pulumi

from components.config import load
from components.program import build

for _name, _value in build(load()).items():
    pulumi.export(_name, _value)
