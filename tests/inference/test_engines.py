"""Engines: torch and ONNX give the same probabilities; ``auto`` picks onnxruntime on CPU
and torch on CUDA, saying so once; precisions that cannot run are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from basiss.cli import main
from basiss.errors import BasissError
from basiss.inference import engines
from basiss.inference.engines import (
    ENGINES,
    PRECISIONS,
    EngineKind,
    OnnxEngine,
    TorchEngine,
    choose_engine,
    make_engine,
)
from basiss.inference.options import PredictOptions
from basiss.inference.predictor import load_predictor
from basiss.training.checkpoint import ModelSpec, save_checkpoint

CHIP = (48, 32)  # (x, y): not square, so a swapped axis would show


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Every export of these tests goes to a fresh cache folder, never ~/.cache."""
    monkeypatch.setenv("BASISS_CACHE_DIR", str(tmp_path / "cache"))


def _spec(n_classes: int = 1) -> ModelSpec:
    return ModelSpec(
        arch="unet-small", in_channels=3, n_classes=n_classes, bands=[1, 2, 3],
        arch_kwargs={"base": 4}, slice=(CHIP[0], CHIP[1]), stride=(36, 24),
    )  # fmt: skip


def _model(n_classes: int) -> torch.nn.Module:
    torch.manual_seed(3)
    model = _spec(n_classes).build().eval()
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
        assert pt.flags.c_contiguous  # channels-last inside, plain NCHW out
        assert np.abs(pt - po).max() < 1e-4
    assert pt.std() > 1e-3  # not two constant maps
    assert pt.min() >= 0.0 and pt.max() <= 1.0  # probabilities, not logits
    if n_classes > 1:  # softmax over classes: road classes sum to at most 1
        assert (pt.sum(axis=1) <= 1.0 + 1e-6).all()


def test_torch_cpu_runs_channels_last_and_matches_contiguous():
    model = _model(1)
    x = np.random.default_rng(1).normal(size=(2, 3, CHIP[1], CHIP[0])).astype(np.float32)
    plain = TorchEngine(_model(1), 1, "cpu", threads=1, channels_last=False)
    cl = TorchEngine(model, 1, "cpu", threads=1)
    assert cl.channels_last and not plain.channels_last
    conv = next(m for m in cl.net.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()  # really NHWC, not a 1x1 kernel
    assert np.abs(cl(x) - plain(x)).max() < 1e-4  # the same bar as torch vs onnx


def test_onnx_engine_refuses_other_chip_sizes():
    o = make_engine("onnx", _model(1), 1, 3, CHIP, threads=1)
    with pytest.raises(ValueError, match="built for chips"):
        o(np.zeros((1, 3, CHIP[0], CHIP[1]), np.float32))


def test_engine_and_precision_kinds():
    assert ENGINES == ("auto", "torch", "onnx")
    assert PRECISIONS == ("fp32", "fp16", "int8")
    assert EngineKind("onnx") is EngineKind.ONNX and EngineKind.TORCH == "torch"
    assert PredictOptions().engine is EngineKind.AUTO  # the default
    with pytest.raises(BasissError, match="unknown engine 'tpu'"):
        make_engine("tpu", _model(1), 1, 3, CHIP)
    with pytest.raises(BasissError, match="unknown precision 'int4'"):
        PredictOptions(precision="int4")


def test_auto_picks_onnx_on_cpu_and_torch_on_cuda():
    cpu = choose_engine("auto", torch.device("cpu"))
    assert cpu.kind is EngineKind.ONNX and cpu.device.type == "cpu"
    assert "onnxruntime" in cpu.reason and "\n" not in cpu.reason
    cuda = choose_engine("auto", torch.device("cuda"))  # pure: needs no GPU
    assert cuda.kind is EngineKind.TORCH and cuda.device.type == "cuda"
    assert choose_engine("auto", torch.device("cuda"), "int8").kind is EngineKind.ONNX
    assert choose_engine("auto", torch.device("cuda"), "fp16").kind is EngineKind.TORCH
    assert choose_engine("torch", torch.device("cpu")).kind is EngineKind.TORCH


def test_auto_default_builds_onnx_and_says_so_once(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(engines, "_NOTES", set())
    ckpt = save_checkpoint(tmp_path / "m.pt", _model(1), _spec(1))
    opts = PredictOptions(device="cpu", threads=1, show_progress=False)
    first = load_predictor(ckpt, opts)
    second = load_predictor(ckpt, opts)
    assert isinstance(first.engine, OnnxEngine) and isinstance(second.engine, OnnxEngine)
    err = capsys.readouterr().err.splitlines()
    assert len([line for line in err if "engine onnx (auto" in line]) == 1
    torch_pred = load_predictor(ckpt, PredictOptions(engine="torch", device="cpu", threads=1))
    assert isinstance(torch_pred.engine, TorchEngine) and torch_pred.engine.channels_last


def test_precisions_that_cannot_run_are_one_line_errors(tmp_path, capsys, make_raster):
    with pytest.raises(BasissError, match="fp16 needs a CUDA device"):
        choose_engine("auto", torch.device("cpu"), "fp16")
    with pytest.raises(BasissError, match="int8 runs on onnxruntime"):
        PredictOptions(engine="torch", precision="int8")
    with pytest.raises(BasissError, match="fp16 is for the torch engine"):
        PredictOptions(engine="onnx", precision="fp16")
    ckpt = save_checkpoint(tmp_path / "m.pt", _model(1), _spec(1))
    img = make_raster(np.full((3, 40, 50), 90, np.uint8))
    code = main(["predict", str(img), "--weights", str(ckpt), "--out", str(tmp_path / "o"),
                 "--precision", "fp16", "--device", "cpu"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == [
        "basiss predict: error: --precision fp16 needs a CUDA device (torch autocast); "
        "on CPU use fp32 or int8"
    ]
