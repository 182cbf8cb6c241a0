"""Model registry: parameter counts, any band count, any size."""

import pytest
import torch

from basiss.models import count_parameters, create_model, model_names
from basiss.models.dlinknet34 import DilatedCentre

torch.set_num_threads(1)


def test_registry_has_the_four_nets():
    assert {"unet", "unet-small", "resunet34", "dlinknet34"} <= set(model_names())


def test_unet_is_the_seeds_size():
    assert count_parameters(create_model("unet", 3, 2)) == 7_760_130


def test_resnet34_encoder_has_resnet34_size():
    # torchvision's resnet34 without its fc layer has 21,284,672 parameters
    # (conv/bn weights); our encoder must match it exactly.
    m = create_model("resunet34", 3, 1)
    assert count_parameters(m.encoder) == 21_284_672


@pytest.mark.parametrize("name", ["unet", "unet-small", "resunet34", "dlinknet34"])
@pytest.mark.parametrize("bands", [1, 3, 8])
def test_any_band_count_and_odd_size(name, bands):
    torch.manual_seed(0)
    m = create_model(name, bands, 2 if name == "unet" else 1).eval()
    x = torch.rand(2, bands, 45, 70)
    with torch.no_grad():
        y = m(x)
    assert y.shape == (2, 2 if name == "unet" else 1, 45, 70)
    assert torch.isfinite(y).all()


def test_dilated_centre_sums_four_dilations():
    c = DilatedCentre(4)
    assert [conv.dilation[0] for conv in c.convs] == [1, 2, 4, 8]
    for conv in c.convs:  # zero convolutions: the block is the identity
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    x = torch.rand(1, 4, 5, 5)
    assert torch.equal(c(x), x)
