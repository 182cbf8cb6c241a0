"""D-LinkNet-34 (Zhou et al., DeepGlobe 2018 road-extraction winner), written here.

Encoder: ResNet-34 (random init, any band count). Centre: a dilated block of
cascaded 3x3 convolutions with dilation 1, 2, 4 and 8 whose outputs are summed
with its input, widening the receptive field to follow long roads. Decoder:
LinkNet blocks (1x1 reduce, 3x3 transposed conv x2, 1x1 expand) added to the
encoder feature of the same stride, then a 4x4 transposed convolution and two
3x3 convolutions back to full resolution. Inputs are padded to a multiple of
32 and the output cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from basiss.models.resnet import ResNetEncoder, _init_weights, pad_to_multiple


class DilatedCentre(nn.Module):
    """Cascade of 3x3 convolutions, dilation 1, 2, 4, 8; input + all outputs summed."""

    def __init__(self, channels: int, dilations: tuple[int, ...] = (1, 2, 4, 8)) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=d, dilation=d) for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        y = x
        for conv in self.convs:
            y = F.relu(conv(y), inplace=False)
            out = out + y
        return out


class LinkDecoderBlock(nn.Module):
    """LinkNet decoder block: 1x1 to cin/4, 3x3 transposed conv stride 2, 1x1 to cout."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = max(1, cin // 4)
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(mid, mid, 3, stride=2, padding=1, output_padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class DLinkNet34(nn.Module):
    """D-LinkNet with a ResNet-34 encoder.

    Args:
        in_channels: input bands.
        n_classes: output logits channels.
        base: encoder stem width (64 = ResNet-34); smaller is faster on a CPU.
    """

    def __init__(self, in_channels: int = 3, n_classes: int = 1, base: int = 64) -> None:
        super().__init__()
        self.encoder = ResNetEncoder(in_channels, base)
        w = self.encoder.widths
        self.centre = DilatedCentre(w[3])
        self.dec4 = LinkDecoderBlock(w[3], w[2])
        self.dec3 = LinkDecoderBlock(w[2], w[1])
        self.dec2 = LinkDecoderBlock(w[1], w[0])
        self.dec1 = LinkDecoderBlock(w[0], w[0])
        half = max(1, w[0] // 2)
        self.final = nn.Sequential(
            nn.ConvTranspose2d(w[0], half, 4, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, n_classes, 3, padding=1),
        )
        for m in (self.centre, self.dec4, self.dec3, self.dec2, self.dec1, self.final):
            _init_weights(m)
        for conv in self.centre.convs:  # start the centre near identity: small residuals
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, h, w = pad_to_multiple(x, 32)
        _, e1, e2, e3, e4 = self.encoder(x)
        c = self.centre(e4)
        d4 = self.dec4(c) + e3
        d3 = self.dec3(d4) + e2
        d2 = self.dec2(d3) + e1
        d1 = self.dec1(d2)
        return self.final(d1)[..., :h, :w]


def dlinknet34(in_channels: int = 3, n_classes: int = 1, base: int = 64) -> DLinkNet34:
    """Registry constructor of :class:`DLinkNet34`."""
    return DLinkNet34(in_channels, n_classes, base)
