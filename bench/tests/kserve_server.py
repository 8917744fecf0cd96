"""KServe's Python model server serving a scikit-learn model or its OpenVINO IR (run as a script).

The scikit-learn model is served as KServe's own sklearn runtime does (kserve/kserve
python/sklearnserver/sklearnserver/model.py: joblib load, `get_predict_input`, `model.predict`,
`get_predict_response`); sklearnserver itself is not on PyPI. The OpenVINO IR is compiled by OpenVINO
Runtime for the CPU and run the same way. Both declare their input for the v2 metadata
(`Model.get_input_types`), so bench can build a body from it.

    python kserve_server.py --kind sklearn|openvino --path FILE --model_name NAME --http_port PORT
"""

from __future__ import annotations

import argparse

import joblib
import numpy as np
from kserve import Model, ModelServer, model_server
from kserve.utils.utils import get_predict_input, get_predict_response

FEATURES = 4


class SKLearn(Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path

    def load(self) -> bool:
        self.model = joblib.load(self.path)
        self.ready = True
        return True

    def get_input_types(self) -> list[dict]:
        return [{"name": "input-0", "datatype": "FP64", "shape": [-1, FEATURES]}]

    def predict(self, payload, headers=None):
        instances = get_predict_input(payload)
        return get_predict_response(payload, self.model.predict(instances), self.name)


class OpenVINO(SKLearn):
    def load(self) -> bool:
        import openvino as ov

        compiled = ov.Core().compile_model(self.path, "CPU")
        self.request = compiled.create_infer_request()
        self.ready = True
        return True

    def predict(self, payload, headers=None):
        instances = np.asarray(get_predict_input(payload), dtype=np.float32)
        scores = self.request.infer({0: instances})[0]
        return get_predict_response(payload, np.argmax(scores, axis=1), self.name)


def main() -> None:
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--kind", choices=("sklearn", "openvino"), required=True)
    parser.add_argument("--path", required=True)
    args, _ = parser.parse_known_args()
    model = (SKLearn if args.kind == "sklearn" else OpenVINO)(args.model_name, args.path)
    model.load()
    ModelServer(http_port=args.http_port, enable_grpc=False, workers=1).start([model])


if __name__ == "__main__":
    main()
