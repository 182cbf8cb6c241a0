"""Engines: torch and ONNX give the same probabilities; the kinds are a closed set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from basiss.errors import BasissError
from basiss.inference.engines import ENGINES, EngineKind, OnnxEngine, TorchEngine, make_engine
from basiss.training.checkpoint import ModelSpec

CHIP = (48, 32)  # (x, y): not square, so a swapped axis would show


def _model(n_classes: int) -> torch.nn.Module:
    torch.manual_seed(3)
    spec = ModelSpec(
        arch="unet-small", in_channels=3, n_classes=n_classes, bands=[1, 2, 3],
        arch_kwargs={"base": 4},
    )  # fmt: skip
    model = spec.build().eval()
    for m in model.modules():  # non-trivial statistics: outputs vary across pixels
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_var.fill_(0.05)
    return model


@pytest.mark.parametrize("n_classes", [1, 3])
def test_torch_and_onnx_agree_within_1e4(n_classes):
    model = _model(n_classes)
    t = make_engine(EngineKind.TORCH, model, n_classes, 3, CHIP, "cpu", threads=1)
    o = make_engine("onnx", model, n_classes, 3, CHIP, threads=1)
    assert isinstance(t, TorchEngine) and isinstance(o, OnnxEngine)
    x = np.random.default_rng(0).normal(size=(3, 3, CHIP[1], CHIP[0])).astype(np.float32)
    for n in (1, 3):  # the batch axis is dynamic
        pt, po = t(x[:n]), o(x[:n])
        assert pt.shape == po.shape == (n, max(1, n_classes - 1), CHIP[1], CHIP[0])
        assert np.abs(pt - po).max() < 1e-4
    assert pt.std() > 1e-3  # not two constant maps
    assert pt.min() >= 0.0 and pt.max() <= 1.0  # probabilities, not logits
    if n_classes > 1:  # softmax over classes: road classes sum to at most 1
        assert (pt.sum(axis=1) <= 1.0 + 1e-6).all()


def test_onnx_engine_refuses_other_chip_sizes():
    o = make_engine("onnx", _model(1), 1, 3, CHIP, threads=1)
    with pytest.raises(ValueError, match="built for chips"):
        o(np.zeros((1, 3, CHIP[0], CHIP[1]), np.float32))


def test_engine_kinds():
    assert ENGINES == ("torch", "onnx")
    assert EngineKind("onnx") is EngineKind.ONNX and EngineKind.TORCH == "torch"
    with pytest.raises(BasissError, match="unknown engine 'tpu'"):
        make_engine("tpu", _model(1), 1, 3, CHIP)
