"""The seed's U-Net and a light variant for CPU training.

``UNet`` is the seed's network exactly: five levels of 32-64-128-256-512
filters, two 3x3 convolutions with ReLU per level, 2x2 max-pooling down, 2x2
transposed convolutions up, skip concatenation and a 1x1 output convolution
(7,760,130 parameters with 3 bands and 2 classes). Inputs whose sides are not
multiples of 16 are padded by reflection and the output cropped back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _double_conv(cin: int, cout: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(2):
        layers.append(nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """U-Net with configurable widths.

    Args:
        in_channels: input bands.
        n_classes: output channels (logits).
        widths: filters per level, shallow to deep (the seed: 32..512).
        batch_norm: add BatchNorm after each convolution (the seed has none).
    """

    def __init__(
        self,
        in_channels: int = 3,
        n_classes: int = 2,
        widths: Sequence[int] = (32, 64, 128, 256, 512),
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        widths = list(widths)
        self.factor = 2 ** (len(widths) - 1)
        self.down = nn.ModuleList()
        cin = in_channels
        for w in widths:
            self.down.append(_double_conv(cin, w, batch_norm))
            cin = w
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, w, 2, stride=2))
            self.dec.append(_double_conv(2 * w, w, batch_norm))
            cin = w
        self.head = nn.Conv2d(cin, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.factor, (-w) % self.factor
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "constant")
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        skips.pop()
        for up, dec in zip(self.up, self.dec, strict=True):
            x = dec(torch.cat([up(x), skips.pop()], dim=1))
        x = self.head(x)
        return x[..., :h, :w]


def unet_small(in_channels: int = 3, n_classes: int = 1, base: int = 16) -> UNet:
    """A light U-Net for CPU training: 4 levels from ``base`` filters, BatchNorm."""
    return UNet(
        in_channels, n_classes, widths=(base, 2 * base, 4 * base, 8 * base), batch_norm=True
    )
