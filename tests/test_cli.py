"""The CLI shell: help for every verb, errors without tracebacks."""

import subprocess
import sys

import pytest

from basiss.cli import VERBS, build_parser, main


def test_help_lists_every_verb(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for verb in VERBS:
        assert verb in out


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exc:
        main([verb, "--help"])
    assert exc.value.code == 0
    assert "usage: basiss " + verb in capsys.readouterr().out


def test_python_dash_m_runs():
    res = subprocess.run(
        [sys.executable, "-m", "basiss", "--version"], capture_output=True, text=True, check=True
    )
    assert res.stdout.startswith("basiss ")


def test_parser_builds():
    assert build_parser().prog == "basiss"


# ----------------------------------------------------------------- an instant, torch-free shell

HEAVY = ("torch", "numpy", "rasterio", "geopandas", "scipy")


def test_building_the_parser_imports_no_torch():
    code = (
        "import sys; from basiss.cli import build_parser; build_parser(); "
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}); "
        "assert 'torch' not in sys.modules, heavy; print(heavy)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"  # not numpy, rasterio or geopandas either


def test_basiss_help_is_instant():
    """``basiss --help`` in a fresh interpreter: <= 0.5 s asked (measured ~0.1 s); 2 s slack."""
    import time

    code = (
        "import sys; from basiss.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules"
    )
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        best = min(best, time.perf_counter() - t)
        assert res.returncode == 0, res.stderr
        assert "pipeline:" in res.stdout
    print(f"basiss --help: {best:.3f} s")
    assert best < 2.0


def _parse(argv):
    return build_parser().parse_args(argv)


TRAIN = ["train", "--file-list", "a", "--out", "o"]
PREDICT = ["predict", "img.tif", "--weights", "w.pt", "--out", "o"]


@pytest.mark.parametrize(
    ("chip", "want"),
    [
        (["--slice", "256"], ((256, 256), None)),
        (["--slice", "256", "128"], ((256, 128), None)),
        (["--slice", "256", "--stride", "200", "100"], ((256, 256), (200, 100))),
        (["--slice_x", "64", "--slice_y", "32", "--stride_x", "16"], ((64, 32), (16, 16))),
        (["--slice", "256", "--slice-y", "128", "--stride-y", "8"], ((256, 128), (8, 8))),
    ],
)
def test_chip_options_parse_the_same_on_train_and_predict(chip, want):
    from basiss.cli._common import chip_pair
    from basiss.cli.train import config_from_args

    for base in (TRAIN, PREDICT):
        args = _parse(base + chip)
        assert (chip_pair(args, "slice"), chip_pair(args, "stride")) == want, base
    cfg = config_from_args(_parse(TRAIN + chip))
    assert cfg.slice == want[0]
    assert cfg.stride == (want[1] or want[0])  # random crops (the default): stride = chip
    seed = config_from_args(_parse(TRAIN + ["--preset", "seed"] + chip))
    assert seed.stride == (want[1] or (round(0.75 * want[0][0]), round(0.75 * want[0][1])))


def test_seed_spellings_model_and_batch_size():
    from basiss.cli.train import config_from_args

    cfg = config_from_args(_parse(TRAIN + ["--model", "unet", "--batch_size", "2"]))
    assert cfg.arch == "unet" and cfg.batch_size == 2
    assert _parse(PREDICT + ["--batch_size", "3"]).batch_size == 3
    assert _parse(PREDICT + ["--batch-size", "5"]).batch_size == 5
    cfg = config_from_args(_parse(TRAIN + ["--preset", "seed"]))
    assert cfg.slice == (400, 400) and cfg.stride == (300, 300) and cfg.loss == "bce"


@pytest.mark.parametrize(
    "argv",
    [
        PREDICT + ["--retries", "-1"],
        PREDICT + ["--batch-size", "0"],
        PREDICT + ["--slice", "0"],
        PREDICT + ["--slice", "1", "2", "3"],
        PREDICT + ["--block-rows", "0"],
        TRAIN + ["--epochs", "0"],
        TRAIN + ["--batch-size", "-2"],
        TRAIN + ["--stride_x", "0"],
        TRAIN + ["--workers", "-1"],
        TRAIN + ["--lr", "-1"],
        TRAIN + ["--max-minutes", "0"],
        TRAIN + ["--arch-kwargs", "[1]"],
        TRAIN + ["--model", "nope"],
        ["masks", "--workers", "0"],
        ["evaluate", "--pred", "p", "--truth", "t", "--relax-px", "-1"],
        ["sample", "out", "--n-chips", "0"],
        ["demo", "--n-train", "0"],
    ],
)
def test_bad_counts_are_refused_with_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"basiss {argv[0]}: error: ")


def _help(verb: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("verb", VERBS)
def test_help_states_each_default_once_and_correctly(verb, capsys):
    import re

    text = _help(verb, capsys)
    assert "(default: None)" not in text
    assert "(default: True)" not in text and "(default: False)" not in text
    # one entry per option: no entry says "default" twice
    entries = re.split(r"\n  (?=-)", text)
    for entry in entries:
        assert len(re.findall(r"\bdefault\b(?!-)", entry.replace("--default-lanes", ""))) <= 1, (
            entry
        )


def test_train_help_shows_the_real_defaults(capsys):
    from basiss.data.augment import Augment

    text = " ".join(_help("train", capsys).split())
    aug = Augment.sources()
    assert f"(default: {aug.gain[0]} {aug.gain[1]})" in text
    assert "--epochs N maximum epochs (default: 200)" in text
    assert "--out DIR run folder for checkpoints and log" in text
    assert "--no-augment switch off all augmentation (geometric and photometric) " in text
