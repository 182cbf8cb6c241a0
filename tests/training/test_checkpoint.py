"""Checkpoints: round trip, typed resume state, and refusal of files that could run code."""

import math
import pickle

import pytest
import torch

from basiss.errors import BasissError
from basiss.training.checkpoint import (
    FORMAT,
    ModelSpec,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from basiss.training.state import TrainingState

torch.set_num_threads(1)


def _spec() -> ModelSpec:
    return ModelSpec(
        arch="unet-small",
        in_channels=3,
        n_classes=1,
        bands=[1, 2, 3],
        slice=(64, 48),
        stride=(48, 36),
        arch_kwargs={"base": 4},
        mask_threshold=127.0,
        extra={"epoch": 3, "val_images": ["a", "b"]},
    )


def test_round_trip_same_weights_same_spec(tmp_path):
    torch.manual_seed(0)
    spec = _spec()
    model = spec.build()
    path = save_checkpoint(tmp_path / "best.pt", model, spec)
    loaded, got = load_checkpoint(path)
    assert got == spec
    assert got.slice == (64, 48) and got.stride == (48, 36)  # tuples again, not lists
    want = model.state_dict()
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, want[k]), k
    x = torch.rand(1, 3, 48, 64)
    model.eval()
    assert torch.equal(loaded(x), model(x))
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_training_state_round_trip_and_old_layout(tmp_path):
    spec = _spec()
    model = spec.build()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    state = TrainingState(
        epoch=2, step=17, progress=0.25, best_score=0.4, best_epoch=1, bad_epochs=1,
        best_val={"loss": 0.4, "f1": 0.7}, optimizer=opt.state_dict(),
    )  # fmt: skip
    path = save_checkpoint(tmp_path / "last.pt", model, spec, training_state=state)
    raw = read_checkpoint(path)["training_state"]
    assert TrainingState.from_dict(raw) == state
    # the layout written before the dataclass: the same keys, ints as floats, no scheduler
    old = dict(raw, epoch=2.0, best_epoch=1.0)
    del old["scheduler"]
    back = TrainingState.from_dict(old)
    assert back.epoch == 2 and isinstance(back.epoch, int) and back.scheduler == {}
    assert TrainingState().best_score == math.inf
    with pytest.raises(BasissError, match="x.pt: training state lacks step"):
        TrainingState.from_dict({k: v for k, v in raw.items() if k != "step"}, source="x.pt")


class _Evil:
    def __reduce__(self):
        return (print, ("this ran",))


def test_a_pickled_object_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    spec = _spec()
    payload = {"format": FORMAT, "version": 1, "spec": {"arch": spec.arch}, "x": _Evil()}
    torch.save(payload, path)
    with pytest.raises(BasissError) as err:
        read_checkpoint(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert "this ran" not in capsys.readouterr().out  # nothing was executed
    # a plain pickle of an object is refused the same way
    path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(BasissError, match="evil.pt: "):
        load_checkpoint(path)


def _good(tmp_path):
    spec = _spec()
    return save_checkpoint(tmp_path / "good.pt", spec.build(), spec), spec


def _resave(path, payload):
    torch.save(payload, path)
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("random", "unreadable or truncated"),
        ("truncated", "unreadable or truncated"),
        ("folder", "is a folder, not a checkpoint file"),
        ("missing", "no such checkpoint"),
        ("unknown arch", "cannot build its model: unknown model 'nonet'"),
        ("no spec", "no model spec"),
        ("bad spec", "checkpoint spec does not fit"),
        ("wrong weights", "weights do not fit the unet-small spec"),
        ("newer", "checkpoint version 99 is newer than this basiss reads (1)"),
        ("not ours", "not a basiss checkpoint"),
    ],
)
def test_bad_checkpoints_are_one_line_errors_naming_the_file(tmp_path, case, message):
    good, spec = _good(tmp_path)
    payload = torch.load(good, weights_only=True)
    bad = tmp_path / f"{case.replace(' ', '_')}.pt"
    if case == "random":
        bad.write_bytes(bytes(range(256)) * 8)
    elif case == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif case == "folder":
        bad.mkdir()
    elif case == "unknown arch":
        _resave(bad, dict(payload, spec=dict(payload["spec"], arch="nonet")))
    elif case == "no spec":
        _resave(bad, {k: v for k, v in payload.items() if k != "spec"})
    elif case == "bad spec":
        _resave(bad, dict(payload, spec=dict(payload["spec"], colour="red")))
    elif case == "wrong weights":
        _resave(bad, dict(payload, spec=dict(payload["spec"], in_channels=8)))
    elif case == "newer":
        _resave(bad, dict(payload, version=99))
    elif case == "not ours":
        _resave(bad, {"weights": torch.zeros(2)})
    with pytest.raises(BasissError) as err:
        load_checkpoint(bad)
    text = str(err.value)
    assert text.startswith(f"{bad}: ") and message in text and "\n" not in text, text
