"""Training loop: loss goes down, resume, budget, checkpoints that predict the same."""

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from basiss.cli import main
from basiss.data.dataset import ChipDataset, chip_index, discover_pairs, image_info
from basiss.evaluation.metrics import Counts
from basiss.models import create_model
from basiss.training.checkpoint import load_checkpoint, read_checkpoint
from basiss.training.loop import TrainConfig, train
from basiss.training.losses import LOSSES, make_loss
from basiss.training.schedule import cosine_lr
from basiss.training.validation import Validation, validate
from helpers import tiny_config as tiny

torch.set_num_threads(1)


def test_validation_metrics_and_cosine():
    m = Validation(2.0, 4, Counts(tp=6, fp=2, fn=4)).metrics()
    want = {"loss": 0.5, "precision": 0.75, "recall": 0.6, "f1": 12 / 18, "iou": 0.5}
    assert {k: m[k] for k in want} == pytest.approx(want)
    assert Validation().metrics()["f1"] == 1.0  # nothing to find, nothing found
    assert Validation(counts=Counts(fp=5)).metrics()["f1"] == 0.0
    both = Validation(1.0, 2, Counts(tp=1)) + Validation(3.0, 2, Counts(fn=1))
    assert both.loss == 1.0 and both.counts == Counts(tp=1, fn=1)
    assert cosine_lr(1.0, 0.0, 100) == pytest.approx(1.0)
    assert cosine_lr(1.0, 1.0, 100) == pytest.approx(0.01)
    assert cosine_lr(1.0, 0.0, 0, warmup_steps=10) == pytest.approx(0.1)


@pytest.mark.parametrize("n_classes", [1, 2])
@pytest.mark.parametrize("loss", LOSSES)
def test_a_few_steps_lower_the_loss(roads, loss, n_classes):
    pairs = discover_pairs(roads)
    infos = [image_info(p) for p in pairs]
    chips = chip_index(pairs, infos, range(4), (32, 32), (32, 32))
    ds = ChipDataset(pairs, infos, chips, (32, 32), norm=_fixed(), n_classes=n_classes)
    x, y = next(iter(torch.utils.data.DataLoader(ds, batch_size=16)))
    torch.manual_seed(0)
    model = create_model("unet-small", 3, n_classes, base=4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    fn = make_loss(loss)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        value = fn(model(x), y)
        value.backward()
        opt.step()
        losses.append(float(value))
    assert losses[-1] < 0.85 * losses[0], losses


def _fixed():
    from basiss.data.normalize import Normalisation

    return Normalisation("fixed")


def test_train_writes_checkpoints_and_log(roads, tmp_path):
    res = train(tiny(roads, tmp_path / "run", epochs=3))
    assert res.epochs_run == 3 and res.stopped == "epochs"
    rows = list(csv.DictReader(res.log_path.open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"train_loss", "val_loss", "val_f1", "val_iou", "chips_per_s"} <= set(rows[0])
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    # weights-only load, and the spec carries what predict needs
    payload = torch.load(res.best_path, weights_only=True)
    spec = payload["spec"]
    assert spec["arch"] == "unet-small" and spec["arch_kwargs"] == {"base": 4}
    assert spec["in_channels"] == 3 and spec["bands"] == [1, 2, 3] and spec["n_classes"] == 1
    assert spec["slice"] == [32, 32] and spec["norm"]["kind"] == "image"  # the default
    assert len(spec["extra"]["val_images"]) == 2
    assert spec["extra"]["config"]["lr"] == 1e-2 and spec["extra"]["config"]["epochs"] == 3
    assert "training_state" in torch.load(res.last_path, weights_only=True)


def test_checkpoint_reproduces_validation_scores(roads, tmp_path):
    """best.pt, reloaded, scores the validation chips exactly as the run logged."""
    cfg = tiny(roads, tmp_path / "run", epochs=3)
    res = train(cfg)
    model, spec = load_checkpoint(res.best_path)
    pairs = discover_pairs(roads)
    infos = [image_info(p) for p in pairs]
    val = [i for i, p in enumerate(pairs) if p.name in spec.extra["val_images"]]
    chips = chip_index(pairs, infos, val, spec.slice, spec.slice)
    ds = ChipDataset(pairs, infos, chips, spec.slice, spec.normalisation)
    loader = torch.utils.data.DataLoader(ds, batch_size=8)
    got = validate(model, loader, make_loss("bce"), 1, torch.device("cpu"))
    assert got.loss == pytest.approx(res.best_val_loss, rel=1e-4)
    assert got.counts.f1 == pytest.approx(res.val_metrics["f1"], abs=1e-3)


def test_resume_continues_from_the_saved_epoch(roads, tmp_path):
    """2 epochs + resume to 3 == 3 epochs straight (same weights, same log).

    The plateau schedule does not depend on --epochs, so both runs see the same rates.
    """
    kw = dict(early_stopping_patience=9, schedule="plateau")
    straight = train(tiny(roads, tmp_path / "a", epochs=3, **kw))
    first = train(tiny(roads, tmp_path / "b", epochs=2, **kw))
    assert first.epochs_run == 2
    resumed = train(tiny(roads, tmp_path / "b", epochs=3, resume=True, **kw))
    assert resumed.epochs_run == 1
    st = read_checkpoint(resumed.last_path)["training_state"]
    assert st["epoch"] == 3
    a = read_checkpoint(straight.last_path)["state_dict"]
    b = read_checkpoint(resumed.last_path)["state_dict"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    rows = list(csv.DictReader(resumed.log_path.open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert resumed.best_epoch == straight.best_epoch


def test_resume_without_last_is_an_error(roads, tmp_path):
    from basiss.errors import BasissError

    with pytest.raises(BasissError, match="no such checkpoint"):
        train(tiny(roads, tmp_path / "none", resume=True))
    train(tiny(roads, tmp_path / "r", epochs=1))
    with pytest.raises(BasissError, match="validated on other images"):
        train(tiny(roads, tmp_path / "r", epochs=2, resume=True, seed=1))
    with pytest.raises(BasissError, match="was trained as unet-small"):
        train(tiny(roads, tmp_path / "r", epochs=2, resume=True, n_classes=2))


def test_max_minutes_stops_cleanly_keeping_best(roads, tmp_path):
    res = train(
        tiny(roads, tmp_path / "t", epochs=10_000, max_minutes=0.05, early_stopping_patience=10_000)
    )
    assert res.stopped == "max-minutes"
    assert res.best_path.is_file() and res.epochs_run >= 1
    assert res.seconds < 0.05 * 60 + 15


def test_dataset_norm_and_two_classes_in_checkpoint(roads, tmp_path):
    res = train(tiny(roads, tmp_path / "n", epochs=1, norm="dataset", n_classes=2))
    model, spec = load_checkpoint(res.best_path)
    norm = spec.normalisation
    assert norm.kind == "dataset" and len(norm.mean) == 3
    assert 60 < norm.mean[0] < 130  # background 30..90, roads 150..220
    assert spec.n_classes == 2
    x = torch.rand(1, 3, 32, 32)
    assert model(x).shape == (1, 2, 32, 32)


def test_cli_train_with_seed_aliases(roads, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(
        [
            "train",
            "--file_list",
            str(roads),
            "--out",
            str(out),
            "--slice_x",
            "32",
            "--slice_y",
            "32",
            "--stride_x",
            "32",
            "--stride_y",
            "32",
            "--batchsize",
            "8",
            "--epochs",
            "1",
            "--validation_split",
            "0.25",
            "--n_bands",
            "3",
            "--n_classes",
            "1",
            "--threads",
            "1",
            "--model",
            "unet-small",
            "--arch-kwargs",
            '{"base": 4}',
            "--mask-threshold",
            "127",
            "--no-augment",
        ]
    )
    assert code == 0
    assert (out / "best.pt").is_file() and (out / "log.csv").is_file()
    assert "best epoch 1" in capsys.readouterr().out
    assert main(["train", "--file-list", str(tmp_path / "missing"), "--out", str(out)]) == 1


def test_config_is_a_dataclass():
    cfg = TrainConfig(file_lists=[Path("x")], out=Path("y"))
    assert replace(cfg, epochs=3).epochs == 3 and cfg.arch == "dlinknet34"


def test_csv_of_8_band_geotiffs_with_01_masks(tmp_path, make_raster):
    """The seed's CSV of GeoTIFFs: 8 bands, 0/1 masks (default threshold 0), a nodata chip."""
    from basiss.io.filelist import Pair, write_file_list

    rng = np.random.default_rng(1)
    pairs = []
    for i in range(4):
        img = rng.integers(1, 120, size=(8, 48, 48), dtype=np.uint8)
        mask = np.zeros((48, 48), np.uint8)
        mask[10 + i : 16 + i] = 1
        img[:, mask == 1] = 240
        img[:, 32:, 32:] = 0  # a nodata corner: its 16 px chip is skipped
        im = make_raster(img, name=f"im{i}.tif")
        mk = make_raster(mask, name=f"mk{i}.tif")
        pairs.append(Pair(f"p{i}", str(im), mask_file=str(mk)))
    csv_path = write_file_list(tmp_path / "list.csv", pairs)
    cfg = tiny(csv_path, tmp_path / "run8", n_bands=8, slice=(16, 16), stride=(16, 16), epochs=1)
    res = train(cfg)
    model, spec = load_checkpoint(res.best_path)
    assert spec.in_channels == 8 and spec.bands == list(range(1, 9))
    assert res.history[0]["chips_per_s"] > 0
    assert model(torch.rand(1, 8, 16, 16)).shape == (1, 1, 16, 16)


@pytest.mark.parametrize("monitor", ["val_loss", "val_f1"])
def test_early_stopping_follows_the_monitored_score(roads, tmp_path, monkeypatch, monitor):
    """Scores from a script: best at epoch 2, then 2 worse epochs -> stop at epoch 4."""
    import basiss.training.loop as tr

    # (loss, tp, fp = fn): F1 = tp / (tp + fp) = 0.3, 0.6, 0.5, 0.55, 0.9
    script = iter([(0.5, 3, 7), (0.4, 3, 2), (0.45, 1, 1), (0.6, 11, 9), (0.3, 9, 1)])

    def fake_validate(*args, **kwargs):
        loss, tp, wrong = next(script)
        return Validation(loss * 10, 10, Counts(tp=tp, fp=wrong, fn=wrong))

    monkeypatch.setattr(tr, "validate", fake_validate)
    res = train(
        tiny(roads, tmp_path / monitor, epochs=10, early_stopping_patience=2, monitor=monitor)
    )
    assert res.stopped == "early-stopping" and res.epochs_run == 4
    assert res.best_epoch == 2 and res.val_metrics["f1"] == 0.6
    assert read_checkpoint(res.best_path)["spec"]["extra"]["epoch"] == 2


def _two_sources(roads: Path, tmp_path: Path) -> list[Path]:
    """The 8 images of ``roads`` as two sources: 'alpha' (5 images) and 'beta.csv' (3)."""
    import shutil

    from basiss.io.filelist import write_file_list

    alpha = tmp_path / "alpha"
    for sub in ("images", "groundtruth"):
        (alpha / sub).mkdir(parents=True)
        for i in range(5):
            shutil.copy(roads / sub / f"im{i}.png", alpha / sub / f"im{i}.png")
    beta = [p for p in discover_pairs(roads) if p.name in ("im5", "im6", "im7")]
    return [alpha, write_file_list(tmp_path / "beta.csv", beta)]


def test_per_source_validation_f1_in_the_log(roads, tmp_path):
    sources = _two_sources(roads, tmp_path)
    cfg = tiny(roads, tmp_path / "ms", epochs=2, validation_split=0.3, source_weights=[1, 3])
    cfg = replace(cfg, file_lists=sources, monitor="val_f1_min")
    res = train(cfg)
    rows = list(csv.DictReader(res.log_path.open()))
    assert list(rows[0])[:10] == [
        "epoch",
        "train_loss",
        "val_loss",
        "val_precision",
        "val_recall",
        "val_f1",
        "val_iou",
        "lr",
        "seconds",
        "chips_per_s",
    ]
    assert list(rows[0])[10:] == ["val_f1_alpha", "val_f1_beta"]
    for r in rows:
        a, b, f1 = float(r["val_f1_alpha"]), float(r["val_f1_beta"]), float(r["val_f1"])
        # micro-averaged F1 of the union is a mediant of the two: between them
        assert min(a, b) - 1e-6 <= f1 <= max(a, b) + 1e-6
    assert set(res.val_f1_per_source) == {"alpha", "beta"}
    best = rows[res.best_epoch - 1]
    assert res.val_f1_per_source["beta"] == pytest.approx(float(best["val_f1_beta"]), abs=1e-5)
    # each source split on its own: 2 of alpha's 5 images, 1 of beta's 3
    val = read_checkpoint(res.best_path)["spec"]["extra"]["val_images"]
    assert len([v for v in val if v in {"im0", "im1", "im2", "im3", "im4"}]) == 2
    assert len(val) == 3


def test_source_weights_set_the_sampling_shares():
    from basiss.training.sampling import epoch_order, sampling_probabilities

    chip_sources = [0] * 30 + [1] * 10
    n = 4000
    for weights, share in (([1, 1], 0.5), ([1, 3], 0.75), ([0, 1], 1.0)):
        p = sampling_probabilities(chip_sources, weights)
        assert p.sum() == pytest.approx(1.0)
        order = epoch_order(40, n, seed=0, epoch=1, probabilities=p)
        got = np.mean([chip_sources[i] == 1 for i in order])
        assert got == pytest.approx(share, abs=0.03), weights
    # without weights: every chip once, shares follow the chip counts (1/4 here)
    plain = epoch_order(40, 40, seed=0, epoch=1)
    assert sorted(plain) == list(range(40))
    # a source without chips drops out; the others share its weight
    p = sampling_probabilities([0, 0, 2], [1, 5, 1])
    assert p.tolist() == pytest.approx([0.25, 0.25, 0.5])


def test_source_weights_must_match_the_sources(roads, tmp_path):
    from basiss.errors import BasissError

    with pytest.raises(BasissError, match="needs 1 non-negative"):
        train(tiny(roads, tmp_path / "w", source_weights=[1, 1]))


def test_cli_augmentation_and_source_options():
    import argparse

    from basiss.cli.train import add_arguments, config_from_args
    from basiss.data.augment import Augment

    p = argparse.ArgumentParser()
    add_arguments(p)
    base = ["--file-list", "a", "--file-list", "b", "--out", "o"]
    cfg = config_from_args(p.parse_args(base))
    assert cfg.augmentation == Augment.sources() and cfg.norm == "image"
    assert cfg.source_weights is None and cfg.augment
    cfg = config_from_args(
        p.parse_args(
            base
            + ["--source-weights", "1", "2", "--aug-scale", "1", "1", "--no-aug-photometric"]
            + ["--norm", "fixed"]
        )
    )
    assert cfg.source_weights == [1.0, 2.0] and cfg.norm == "fixed"
    assert cfg.augmentation == Augment.sources(scale=(1.0, 1.0)).without_photometric()
    assert not cfg.augmentation.scales
    cfg = config_from_args(p.parse_args(base + ["--aug-blur", "0", "--aug-scale", "1.5", "0.8"]))
    assert cfg.augmentation.blur == 0 and cfg.augmentation.scale == (0.8, 1.5)
    assert cfg.augmentation.noise == Augment.sources().noise
    cfg = config_from_args(p.parse_args(base + ["--aug-rotate", "0"]))
    assert cfg.augmentation.rotate == 0 and Augment.sources().rotate == 45
    from basiss.errors import BasissError

    with pytest.raises(BasissError, match="rotate must be in"):
        config_from_args(p.parse_args(base + ["--aug-rotate", "200"]))


# ----------------------------------------------------------------- refusals (one line, no trace)


def _cli_train(roads, out, *extra):
    return main(
        ["train", "--file-list", str(roads), "--out", str(out), "--slice", "32"]
        + ["--epochs", "1", "--threads", "1", "--model", "unet-small"]
        + ["--arch-kwargs", '{"base": 4}', "--no-augment"]
        + ["--validation-split", "0.25", *extra]
    )


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_an_existing_run_is_refused_unless_resume_or_overwrite(roads, tmp_path, capsys):
    out = tmp_path / "run"
    assert _cli_train(roads, out) == 0
    best = (out / "best.pt").read_bytes()
    capsys.readouterr()
    assert _cli_train(roads, out) == 1
    line = _one_error_line(capsys)
    assert f"{out}: already holds a run (best.pt, last.pt, log.csv)" in line
    assert (out / "best.pt").read_bytes() == best  # untouched
    assert _cli_train(roads, out, "--overwrite") == 0
    assert _cli_train(roads, out, "--resume", "--epochs", "2") == 0


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--stride", "48"], 1, "stride (48, 48) is larger than the chip (32, 32)"),
        (["--lr", "-1"], 2, "--lr: must be > 0, got -1"),
        (["--arch-kwargs", '{"nope": 1}'], 1, "do not fit unet-small"),
        (["--resume"], 1, "last.pt: no such checkpoint to resume from"),
    ],
)
def test_a_failed_start_is_one_line_and_leaves_no_folder(
    roads, tmp_path, capsys, extra, code, message
):
    out = tmp_path / "new"
    if code == 2:
        with pytest.raises(SystemExit) as exc:
            _cli_train(roads, out, *extra)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and message in err.strip().splitlines()[-1]  # after usage
    else:
        assert _cli_train(roads, out, *extra) == code
        assert message in _one_error_line(capsys)
    assert not out.exists()
