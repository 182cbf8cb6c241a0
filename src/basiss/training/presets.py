"""Training recipes by name: the best one measured on a 2-core CPU is the default.

A :class:`Preset` is a set of :class:`~basiss.training.config.TrainConfig` values (model,
chip size, batch, learning rate, loss, schedule, stopping). ``basiss train --preset NAME``
starts from one and any option given on the command line overrides it;
:meth:`TrainConfig.from_preset <basiss.training.config.TrainConfig.from_preset>` does the
same from Python. The config's own field defaults *are* the :data:`DEFAULT` preset, so a
config built without a preset, the command line without ``--preset`` and the benchmarks
train the same thing; the checkpoint records the preset's name.

Where the figures come from (``benchmarks/RESULTS.md``, 2 cores, 30 minutes, CIL 2016):
D-LinkNet-34 at base width 32 on 256 px random crops, batch 8, Adam 1e-3 with a cosine over
the budget and BCE + Dice reached validation F1 0.84, against 0.69 for U-Net-small and
ResNet-U-Net-34 in 12 minutes; the full-width D-LinkNet-34 is about 4x slower per step,
so on a CPU it sees too few chips in the same time. For the same reason the model learns
at half the images' resolution (zoom 0.5, 192 px chips read from 384 px windows): a step
covers four times the ground, and the labels lose almost nothing (CIL masks halved and
restored: F1 0.996 against themselves). On both CIL sources together in 30 minutes it
trains 27 epochs instead of 16-17 and raised full-resolution held-out F1 on both seeds
(cil2016 0.755 / 0.829 -> 0.768 / 0.843, cil2022_train 0.646 / 0.696 -> 0.649 / 0.699),
and prediction runs a quarter of the chips.

``cpu-fast`` halves the net's width (base 16): 0.50 GFLOP per 192 px chip forward
against 1.92, a training step 2.9x faster, a run ~2x the chips per second (reading and
augmenting a chip then costs as much as its step); in 30 minutes on both CIL sources it
trained 56 epochs to 0.737 / 0.658 (seed 0; ``cpu`` 0.768 / 0.649), so ``cpu`` stays the
default. (It was U-Net-small at base 16, which at 2.61 GFLOP per chip is *slower* than
``cpu`` on these chips: full-resolution convolutions cost more than a deep thin encoder.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from basiss.errors import BasissError


@dataclass(frozen=True)
class Preset:
    """One named recipe.

    Attributes:
        name: what ``--preset`` takes.
        summary: one line for ``basiss train --help`` (under ``--preset``).
        values: :class:`~basiss.training.config.TrainConfig` field values it sets.
    """

    name: str
    summary: str
    values: dict[str, Any] = field(default_factory=dict)


#: The recipe the benchmarks found best on this CPU (see the module docstring).
CPU = Preset(
    "cpu",
    "D-LinkNet-34 (base 32) at zoom 0.5, 192 px random crops, batch 8, Adam 1e-3 cosine, "
    "bce+dice: best measured on 2 CPU cores in 30 min",
    {
        "arch": "dlinknet34",
        "arch_kwargs": {"base": 32},
        "slice": (192, 192),
        "random_crop": True,
        "zoom": 0.5,
        "batch_size": 8,
        "lr": 1e-3,
        "loss": "bce+dice",
        "schedule": "cosine",
        "monitor": "val_f1_min",
        "epochs": 200,
        "early_stopping_patience": 20,
    },
)

#: A quarter of the compute per chip, for a first look in minutes.
CPU_FAST = Preset(
    "cpu-fast",
    "D-LinkNet-34 at base 16, otherwise cpu: a quarter of its compute per chip (~2x the "
    "chips per second in a run), for a first model in minutes",
    {
        **CPU.values,
        "arch_kwargs": {"base": 16},
    },
)

#: Full-width D-LinkNet on larger chips: for a GPU (not measured on this machine).
GPU = Preset(
    "gpu",
    "D-LinkNet-34 at full width on 512 px random crops, batch 16, Adam 1e-3 cosine, "
    "bce+dice: the published D-LinkNet setting, for a CUDA device",
    {
        **CPU.values,
        "arch_kwargs": {},
        "slice": (512, 512),
        "zoom": 1.0,
        "batch_size": 16,
    },
)

#: The seed project's own setting: its U-Net on its 400/300 chip grid with BCE.
SEED = Preset(
    "seed",
    "the seed's U-Net on the 400 px grid (stride 300), batch 4, Adam 1e-3, bce, best by "
    "validation loss",
    {
        "arch": "unet",
        "arch_kwargs": {},
        "slice": (400, 400),
        "random_crop": False,
        "zoom": 1.0,
        "batch_size": 4,
        "lr": 1e-3,
        "loss": "bce",
        "schedule": "cosine",
        "monitor": "val_loss",
        "epochs": 50,
        "early_stopping_patience": 4,
    },
)

#: Every preset by name.
PRESETS: MappingProxyType[str, Preset] = MappingProxyType(
    {p.name: p for p in (CPU, CPU_FAST, GPU, SEED)}
)

#: The preset a run uses when none is named.
DEFAULT = CPU.name


def preset(name: str) -> Preset:
    """The preset called ``name``.

    Raises:
        BasissError: an unknown name, listing the known ones.
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise BasissError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}") from None


def default_value(name: str, fallback: Any) -> Any:
    """The :data:`DEFAULT` preset's value of config field ``name`` (``fallback`` if unset).

    Lists and dicts are copied, so a config cannot change the preset.
    """
    value = PRESETS[DEFAULT].values.get(name, fallback)
    return type(value)(value) if isinstance(value, list | dict) else value
