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
