"""Loss values on a hand-computed 4-pixel case; IGNORE pixels count nowhere."""

import math

import pytest
import torch

from basiss.data.dataset import IGNORE
from basiss.errors import BasissError
from basiss.training.losses import LOSSES, make_loss

LN3 = math.log(3.0)
# sigmoid: 0.5, 0.75, 0.25, 0.75 against road, road, background, background
LOGITS = [0.0, LN3, -LN3, LN3]
TARGET = [1, 1, 0, 0]
# per pixel: -log(p_true) with p_true = 0.5, 0.75, 0.75, 0.25
CE = [math.log(2.0), math.log(4 / 3), math.log(4 / 3), math.log(4.0)]
P_TRUE = [0.5, 0.75, 0.75, 0.25]

EXPECTED = {
    "bce": sum(CE) / 4,
    # soft Dice, eps 1: intersection 0.5 + 0.75, sum(p) 2.25, sum(t) 2 -> 1 - 3.5 / 5.25
    "dice": 1.0 - (2 * 1.25 + 1.0) / (2.25 + 2.0 + 1.0),
    # focal, gamma 2: (1 - p_true)^2 * ce, mean
    "focal": sum((1 - p) ** 2 * ce for p, ce in zip(P_TRUE, CE, strict=True)) / 4,
}
EXPECTED["bce+dice"] = EXPECTED["bce"] + EXPECTED["dice"]


def _case(n_classes: int, extra_ignored: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (1, C, 1, 4 or 6) and target (1, 1, 4 or 6); two wild IGNORE pixels if asked."""
    z = list(LOGITS) + ([9.0, -7.0] if extra_ignored else [])
    t = list(TARGET) + ([IGNORE, IGNORE] if extra_ignored else [])
    road = torch.tensor(z, dtype=torch.float32).reshape(1, 1, 1, -1)
    # two classes: softmax over (0, z) is sigmoid(z), so the values are the same
    logits = road if n_classes == 1 else torch.cat([torch.zeros_like(road), road], dim=1)
    return logits, torch.tensor(t, dtype=torch.uint8).reshape(1, 1, -1)


@pytest.mark.parametrize("n_classes", [1, 2])
@pytest.mark.parametrize("name", LOSSES)
def test_loss_values_by_hand(name, n_classes):
    logits, target = _case(n_classes)
    assert float(make_loss(name)(logits, target)) == pytest.approx(EXPECTED[name], rel=1e-5)


@pytest.mark.parametrize("n_classes", [1, 2])
@pytest.mark.parametrize("name", LOSSES)
def test_ignored_pixels_change_nothing(name, n_classes):
    plain = make_loss(name)(*_case(n_classes))
    logits, target = _case(n_classes, extra_ignored=True)
    logits.requires_grad_(True)
    value = make_loss(name)(logits, target)
    assert float(value) == pytest.approx(float(plain), rel=1e-6)
    value.backward()
    assert torch.all(logits.grad[..., 4:] == 0)  # no gradient through ignored pixels
    assert torch.any(logits.grad[..., :4] != 0)


def test_unknown_loss_is_a_one_line_error():
    with pytest.raises(BasissError, match="unknown loss 'l2'; choose from bce, dice"):
        make_loss("l2")
