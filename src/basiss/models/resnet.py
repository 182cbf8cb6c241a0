"""A ResNet-34 encoder (BasicBlocks 3-4-6-3), written here: no torchvision, no downloads.

Shared by :mod:`~basiss.models.resunet34` and :mod:`~basiss.models.dlinknet34`.
The stem takes any number of input bands. Features come out at strides
2 (stem), 4, 8, 16 and 32 (the four residual stages).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: Blocks per stage of ResNet-34.
RESNET34_LAYERS = (3, 4, 6, 3)


def conv_bn_relu(
    cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1
) -> nn.Sequential:
    """``k x k`` convolution (same padding), BatchNorm, ReLU."""
    pad = dilation * (k // 2)
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x), inplace=True)


class ResNetEncoder(nn.Module):
    """ResNet encoder returning the stem and the four stage outputs.

    Args:
        in_channels: input bands (any number).
        base: width of the stem and first stage (64 in ResNet-34); stages are
            ``base, 2 base, 4 base, 8 base``.
        layers: BasicBlocks per stage.
    """

    def __init__(
        self, in_channels: int = 3, base: int = 64, layers: Sequence[int] = RESNET34_LAYERS
    ) -> None:
        super().__init__()
        self.widths = [base * 2**i for i in range(len(layers))]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, base, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(base),
            nn.ReLU(inplace=True),
        )
        self.stages = nn.ModuleList()
        cin = base
        for i, (w, n) in enumerate(zip(self.widths, layers, strict=True)):
            blocks = [BasicBlock(cin, w, stride=1 if i == 0 else 2)]
            blocks += [BasicBlock(w, w) for _ in range(n - 1)]
            self.stages.append(nn.Sequential(*blocks))
            cin = w
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features ``[stem (1/2), stage1 (1/4), stage2 (1/8), stage3 (1/16), stage4 (1/32)]``."""
        s = self.stem(x)
        feats = [s]
        y = F.max_pool2d(s, 3, stride=2, padding=1)
        for stage in self.stages:
            y = stage(y)
            feats.append(y)
        return feats


def _init_weights(module: nn.Module) -> None:
    """He init for convolutions, unit BatchNorm: the usual ResNet start."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def pad_to_multiple(x: torch.Tensor, factor: int) -> tuple[torch.Tensor, int, int]:
    """Pad ``x`` at the bottom/right to sides divisible by ``factor``.

    Reflection when the image is large enough, zeros otherwise.

    Returns:
        The padded tensor and the original height and width (to crop back).
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % factor, (-w) % factor
    if ph or pw:
        mode = "reflect" if min(h, w) > max(ph, pw) else "constant"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, h, w
