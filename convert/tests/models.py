"""Small real models the converter tests build: a torch CNN, exported to ONNX, in MLflow model folders."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

ONNX_MLMODEL = """artifact_path: model
flavors:
  onnx:
    data: model.onnx
    onnx_version: 1.23.2
    providers: [CPUExecutionProvider]
  python_function:
    data: model.onnx
    env: {conda: conda.yaml, virtualenv: python_env.yaml}
    loader_module: mlflow.onnx
    python_version: 3.11.7
mlflow_version: 2.22.0
"""


class DigitNet(torch.nn.Module):
    """A small CNN over 1x8x8 images (scikit-learn's digits), ten classes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.head = torch.nn.Linear(8 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).flatten(1))


def net(seed: int = 0) -> DigitNet:
    torch.manual_seed(seed)
    return DigitNet().eval()


def export_onnx(
    module: torch.nn.Module, path: Path, shape: tuple[int, ...] = (1, 1, 8, 8), dynamic: bool = True
):
    """Export with the TorchScript exporter (no onnxscript needed), input x and output y."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(*shape),),
            str(path),
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "n"}, "y": {0: "n"}} if dynamic else None,
            dynamo=False,
        )
    return path


def mlflow_onnx(folder: Path, module: torch.nn.Module, **kwargs) -> Path:
    """An MLflow ONNX model folder as mlflow.onnx.save_model writes it: MLmodel beside model.onnx."""
    export_onnx(module, folder / "model.onnx", **kwargs)
    (folder / "MLmodel").write_text(ONNX_MLMODEL)
    return folder


def torch_out(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def train_digits(epochs: int = 30) -> tuple[DigitNet, np.ndarray, np.ndarray]:
    """A DigitNet trained on scikit-learn's digits (shipped with the package); (model, images, labels)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    model = net(1).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    for _ in range(epochs):
        for i in range(0, len(x), 128):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[i : i + 128]), y[i : i + 128])
            loss.backward()
            optimizer.step()
    return model.eval(), images, labels
