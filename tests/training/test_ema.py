"""The weights' moving average: its arithmetic, and a run that validates, saves and resumes it."""

import math

import pytest
import torch
from torch import nn

from basiss.cli import build_parser
from basiss.cli.train import config_from_args
from basiss.data.dataset import ChipDataset, chip_index, discover_pairs, image_info
from basiss.models import create_model
from basiss.training.checkpoint import load_checkpoint, read_checkpoint
from basiss.training.ema import WeightAverage, ramped_decay
from basiss.training.loop import train
from basiss.training.losses import make_loss
from basiss.training.validation import validate
from helpers import tiny_config as tiny

torch.set_num_threads(1)


def test_ramped_decay_starts_low_and_reaches_the_target():
    assert ramped_decay(0.999, 0) == pytest.approx(0.1)
    assert ramped_decay(0.999, 90) == pytest.approx(91 / 100)
    assert ramped_decay(0.9, 10_000) == 0.9


def test_average_of_constant_weights_closes_the_gap_geometrically():
    """Live weights held at w: after n updates avg - w = (w0 - w) * prod(d_i); the
    BatchNorm running mean is averaged alike, its integer counter copied."""
    torch.manual_seed(0)
    live = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    avg = WeightAverage(live, 0.5)
    w0 = live[0].weight.detach().clone()
    with torch.no_grad():
        live[0].weight.add_(1.0)
        live[1].running_mean.fill_(4.0)
        live[1].num_batches_tracked.fill_(7)
    n = 5
    for _ in range(n):
        avg.update(live)
    left = math.prod(ramped_decay(0.5, i) for i in range(n))
    torch.testing.assert_close(avg.model[0].weight, w0 + 1.0 - left, rtol=0, atol=1e-6)
    torch.testing.assert_close(avg.model[1].running_mean, torch.full((2,), 4.0 * (1 - left)))
    assert int(avg.model[1].num_batches_tracked) == 7
    assert not any(p.requires_grad for p in avg.model.parameters())
    assert live[0].weight.requires_grad  # the live model trains on
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        WeightAverage(live, 1.0)


def test_a_run_with_ema_validates_and_keeps_the_average(roads, tmp_path):
    """best.pt holds the average, not the live weights, and scores the validation chips as
    the run reported; last.pt keeps the live weights and the average for resuming."""
    res = train(tiny(roads, tmp_path / "r", epochs=1, ema=0.9))
    best = read_checkpoint(res.best_path)["state_dict"]
    last = read_checkpoint(res.last_path)
    kept = last["training_state"]["ema"]
    assert kept["updates"] == last["training_state"]["step"] > 0
    for k, v in best.items():
        torch.testing.assert_close(v, kept["weights"][k], rtol=0, atol=0)
    assert any(not torch.equal(v, last["state_dict"][k]) for k, v in best.items())

    model, spec = load_checkpoint(res.best_path)
    assert spec.extra["config"]["ema"] == 0.9
    pairs = discover_pairs(roads)
    infos = [image_info(p) for p in pairs]
    val = [i for i, p in enumerate(pairs) if p.name in spec.extra["val_images"]]
    ds = ChipDataset(pairs, infos, chip_index(pairs, infos, val, spec.slice, spec.slice),
                     spec.slice, spec.normalisation)  # fmt: skip
    loader = torch.utils.data.DataLoader(ds, batch_size=8)
    cpu, bce = torch.device("cpu"), make_loss("bce")
    assert validate(model, loader, bce, 1, cpu).loss == pytest.approx(res.best_val_loss, rel=1e-4)
    live = create_model(spec.arch, 3, 1, **spec.arch_kwargs)
    live.load_state_dict(last["state_dict"])
    assert validate(live, loader, bce, 1, cpu).loss != pytest.approx(res.best_val_loss, rel=1e-3)


def test_resumed_ema_run_equals_a_straight_one(roads, tmp_path):
    """2 epochs + resume to 3 == 3 epochs straight, the average included."""
    kw = dict(early_stopping_patience=9, schedule="plateau", ema=0.8)
    straight = train(tiny(roads, tmp_path / "a", epochs=3, **kw))
    train(tiny(roads, tmp_path / "b", epochs=2, **kw))
    resumed = train(tiny(roads, tmp_path / "b", epochs=3, resume=True, **kw))
    a = read_checkpoint(straight.last_path)["training_state"]["ema"]
    b = read_checkpoint(resumed.last_path)["training_state"]["ema"]
    assert a["updates"] == b["updates"]
    for k in a["weights"]:
        torch.testing.assert_close(a["weights"][k], b["weights"][k], rtol=1e-5, atol=1e-6)
    assert resumed.best_epoch == straight.best_epoch


def test_ema_flag_parses_and_checks_its_range(capsys):
    base = ["train", "--file-list", "d", "--out", "o"]
    assert config_from_args(build_parser().parse_args(base)).ema == 0.0  # off by default
    assert config_from_args(build_parser().parse_args([*base, "--ema", "0.999"])).ema == 0.999
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([*base, "--ema", "1"])
    assert e.value.code == 2
    assert "--ema" in capsys.readouterr().err
