"""Where each serving backend stands upstream, and what to use instead: said to the user by the plan,
the README and the policy pack's `serving-backend-maintained` rule, from this one statement.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Upstream:
    """What choosing a backend means upstream."""

    status: str
    """Where the system stands, in a sentence a user can act on."""
    maintained: bool
    """Whether upstream still develops it (an unmaintained one is warned about at every plan)."""
    alternative: str = ""
    """What to use instead, for an unmaintained one."""


OVMS = Upstream(
    "deprecated upstream: the OpenVINO operator is deprecated in favour of KServe (the server itself is "
    "active), gets no new features and cannot run OVMS past 2026.2 (2026.3 refuses "
    "--sequence_cleaner_poll_wait_minutes, which the operator always passes); backend kserve serves the "
    "same OpenVINO IR and ONNX models on OVMS through its kserve-openvino runtime",
    maintained=False,
    alternative="backend kserve with kserve.openvino_runtime: the same OVMS serving the same OpenVINO IR "
    "and ONNX models, through KServe's kserve-openvino ClusterServingRuntime",
)
KSERVE = Upstream(
    "active upstream (CNCF incubating); the successor the OpenVINO operator points to", maintained=True
)
SELDON = Upstream(
    "in maintenance upstream: Seldon Core 1 is in maintenance (fixes, not features), and since 1.18.0 it "
    "is under the Business Source License 1.1 (production use needs a licence from Seldon; each release "
    "turns Apache 2.0 four years on); Seldon Core 2 is a different system",
    maintained=False,
    alternative="backend kserve (Apache 2.0, the same TensorFlow, scikit-learn and XGBoost formats); Seldon "
    "Core 2 is a different system, not an upgrade",
)
MODELMESH = Upstream(
    "archived upstream: ModelMesh Serving is archived (last release 0.12.0) and gets no fixes, security "
    "updates or support for newer KServe and Kubernetes versions; KServe's ModelMesh mode needs it "
    "installed as it is",
    maintained=False,
    alternative="backend kserve: one InferenceService per model on KServe's maintained runtimes "
    "(kserve-openvino for OpenVINO IR and ONNX)",
)

#: The program's backend names (`backend:`) -> where each stands.
UPSTREAM: dict[str, Upstream] = {"ovms": OVMS, "kserve": KSERVE, "seldon": SELDON, "modelmesh": MODELMESH}

#: OpenVINO Model Server's image, and the newest release both ways of driving it here can run:
#: OVMS 2026.3 removed the TensorFlow Serving API (model_server commit 10369c696, "Remove TensorFlow
#: Serving (TFS) gRPC/REST frontend"), which KServe's kserve-openvino runtime serves its v1 protocol
#: with, and --sequence_cleaner_poll_wait_minutes (ddaeb173e), which the OpenVINO operator 1.2.0's chart
#: always passes (helm-charts/ovms/templates/deployment.yaml) and 2026.3's parser refuses. 2026.2 is
#: documented as `openvino/model_server:2026.2` (model_server v2026.2.1 docs); its src/cli_parser.cpp
#: still takes the flag.
OVMS_IMAGE = "openvino/model_server"
OVMS_NEWEST_RUNNABLE = (2026, 2)
OVMS_RELEASE = "2026.2"
