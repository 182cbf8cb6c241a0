"""ResUNet-34: a U-Net decoder on a ResNet-34 encoder.

Encoder: ResNet-34 (7x7 stem, BasicBlocks 3-4-6-3), random init, any band
count. Decoder: five steps of 2x bilinear upsampling, concatenation with the
encoder feature of the same stride (stem, stages 1-3; none at full
resolution) and two 3x3 conv-BN-ReLU, then a 1x1 output convolution. Inputs of
any size are padded to a multiple of 32 and the output cropped back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from basiss.models.resnet import ResNetEncoder, _init_weights, conv_bn_relu, pad_to_multiple


class _UpBlock(nn.Module):
    def __init__(self, cin: int, cskip: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(conv_bn_relu(cin + cskip, cout), conv_bn_relu(cout, cout))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv(x)


class ResUNet34(nn.Module):
    """U-Net with a ResNet-34 encoder.

    Args:
        in_channels: input bands.
        n_classes: output logits channels.
        base: encoder stem width (64 = ResNet-34); smaller is faster on a CPU.
        decoder: widths of the five decoder steps, deepest first.
    """

    def __init__(
        self,
        in_channels: int = 3,
        n_classes: int = 1,
        base: int = 64,
        decoder: Sequence[int] = (256, 128, 64, 32, 16),
    ) -> None:
        super().__init__()
        self.encoder = ResNetEncoder(in_channels, base)
        w = self.encoder.widths  # stage widths; stem has base channels
        skips = [w[2], w[1], w[0], base, 0]  # skip channels for each up step
        self.blocks = nn.ModuleList()
        cin = w[3]
        for cs, cout in zip(skips, decoder, strict=True):
            self.blocks.append(_UpBlock(cin, cs, cout))
            cin = cout
        self.head = nn.Conv2d(cin, n_classes, 1)
        _init_weights(self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, h, w = pad_to_multiple(x, 32)
        stem, e1, e2, e3, e4 = self.encoder(x)
        y = e4
        for block, skip in zip(self.blocks, [e3, e2, e1, stem, None], strict=True):
            y = block(y, skip)
        return self.head(y)[..., :h, :w]


def resunet34(in_channels: int = 3, n_classes: int = 1, **kwargs: int) -> ResUNet34:
    """Registry constructor of :class:`ResUNet34`."""
    return ResUNet34(in_channels, n_classes, **kwargs)  # type: ignore[arg-type]
