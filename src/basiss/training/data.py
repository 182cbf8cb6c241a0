"""A run's data: its sources split by image, the chip datasets and the loaders of each epoch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch.utils.data import DataLoader, Subset

from basiss.data.augment import window_size
from basiss.data.dataset import (
    ChipDataset,
    ImageInfo,
    chip_index,
    dataset_statistics,
    discover_pairs,
    image_info,
    source_names,
    split_by_image,
)
from basiss.data.normalize import Normalisation
from basiss.errors import BasissError
from basiss.io.filelist import Pair
from basiss.training.config import TrainConfig
from basiss.training.sampling import epoch_order, sampling_probabilities


@dataclass
class Sources:
    """Every source's pairs in one list, split by image per source.

    Attributes:
        pairs, infos: the image/mask pairs and their :class:`~basiss.data.dataset.ImageInfo`.
        train_images, val_images: indices into ``pairs``.
        source_of: the source number of each pair.
        names: one name per source (the log's ``val_f1_<name>``).
    """

    pairs: list[Pair]
    infos: list[ImageInfo]
    train_images: list[int]
    val_images: list[int]
    source_of: list[int]
    names: list[str]

    @property
    def bands(self) -> list[int]:
        """The 1-based bands every image contributes."""
        return list(self.infos[0].bands)

    @property
    def val_names(self) -> list[str]:
        """The names of the validation images (stored in the checkpoint, checked on resume)."""
        return [self.pairs[i].name for i in self.val_images]


def load_sources(c: TrainConfig) -> Sources:
    """All sources' pairs, split by image per source (seed + source number).

    Raises:
        BasissError: images with different band counts, or no training image left.
    """
    pairs: list[Pair] = []
    train_images: list[int] = []
    val_images: list[int] = []
    source_of: list[int] = []
    for k, source in enumerate(c.file_lists):
        src = discover_pairs(source)
        tr, va = split_by_image(len(src), c.validation_split, c.seed + k)
        off = len(pairs)
        pairs += src
        source_of += [k] * len(src)
        train_images += [off + i for i in tr]
        val_images += [off + i for i in va]
    infos = [image_info(p, c.n_bands) for p in pairs]
    n = len(infos[0].bands)
    for p, info in zip(pairs, infos, strict=True):
        if len(info.bands) != n:
            raise BasissError(
                f"{p.im_file}: has {len(info.bands)} bands, {pairs[0].im_file} has {n}; "
                "set --n-bands"
            )
    if not train_images:
        raise BasissError("no training images (validation split took them all)")
    names = source_names(c.file_lists)
    return Sources(pairs, infos, train_images, val_images, source_of, names)


def training_gsd(c: TrainConfig, sources: Sources) -> float | None:
    """The ground sample distance the model learns at, in metres: ``--gsd`` when given,
    else the median of the images' own (None when any image has no CRS).

    Raises:
        BasissError: georeferenced training images whose GSDs differ by more than 1.5x
            (a model learns one scale; resample them, or train one model per scale).
    """
    if c.gsd is not None:
        return float(c.gsd)
    known = [info.gsd for info in sources.infos]
    if not known or any(g is None for g in known):
        return None
    values = sorted(g for g in known if g is not None)
    if values[-1] > 1.5 * values[0]:
        lo = sources.pairs[[info.gsd for info in sources.infos].index(values[0])].im_file
        hi = sources.pairs[[info.gsd for info in sources.infos].index(values[-1])].im_file
        raise BasissError(
            f"training images differ in ground sample distance: {lo} is {values[0]:g} m, "
            f"{hi} is {values[-1]:g} m; resample them to one GSD or give --gsd"
        )
    return values[len(values) // 2]


def fresh_normalisation(c: TrainConfig, sources: Sources) -> Normalisation:
    """The normalisation of a new run (``dataset``: statistics of the training images)."""
    if c.norm == "dataset":
        return dataset_statistics(sources.pairs, sources.infos, sources.train_images)
    return Normalisation(c.norm)


@dataclass
class Chips:
    """The chip datasets of a run and how each epoch draws from them.

    Attributes:
        train: the training chips (augmented).
        val: ``(source number, dataset)`` of each source with validation chips.
        n_val: validation chips in all.
        probabilities: per-chip draw probabilities (``source_weights``), or None.
    """

    train: ChipDataset
    val: list[tuple[int, ChipDataset]]
    n_val: int
    probabilities: np.ndarray | None

    def per_epoch(self, cap: int | None) -> int:
        """Chips drawn per epoch: all of them, or ``cap``."""
        return min(len(self.train), cap) if cap else len(self.train)

    def epoch_loader(self, c: TrainConfig, epoch: int) -> DataLoader:
        """The training batches of ``epoch`` (its own order, its own augmentation draws)."""
        self.train.set_epoch(epoch)
        n = self.per_epoch(c.max_chips_per_epoch)
        order = epoch_order(len(self.train), n, c.seed, epoch, self.probabilities)
        return DataLoader(
            Subset(self.train, order),
            batch_size=c.batch_size,
            num_workers=c.workers,
            drop_last=n > c.batch_size,
        )

    def val_loaders(self, c: TrainConfig) -> list[tuple[int, DataLoader]]:
        """One validation loader per source with validation chips."""
        return [
            (k, DataLoader(ds, batch_size=c.batch_size, num_workers=c.workers))
            for k, ds in self.val
        ]

    def close(self) -> None:
        """Close every open image of every dataset."""
        self.train.close()
        for _, ds in self.val:
            ds.close()


def make_chips(c: TrainConfig, sources: Sources, norm: Normalisation) -> Chips:
    """Index the chips (training grid ``slice``/``stride``, validation ``stride = slice``;
    both in model pixels, so in image pixels divided by ``zoom``).

    Raises:
        BasissError: every training chip is nodata.
    """
    s = sources
    extent = window_size(c.slice, c.zoom, 0.0)  # a chip's footprint in image pixels
    train_chips = chip_index(
        s.pairs, s.infos, s.train_images, extent, window_size(c.stride, c.zoom, 0.0)
    )
    if not train_chips:
        raise BasissError("no training chips: every chip of the training images is nodata")
    common = dict(
        pairs=s.pairs,
        infos=s.infos,
        slice_=tuple(c.slice),
        norm=norm,
        mask_threshold=c.mask_threshold,
        n_classes=c.n_classes,
        zoom=c.zoom,
    )
    train = ChipDataset(
        chips=train_chips,
        augment=c.augmentation if c.augment else None,
        random_crop=c.random_crop,
        seed=c.seed,
        **common,  # type: ignore[arg-type]
    )
    val: list[tuple[int, ChipDataset]] = []
    n_val = 0
    for k in range(len(s.names)):
        images = [i for i in s.val_images if s.source_of[i] == k]
        chips = chip_index(s.pairs, s.infos, images, extent, extent)
        n_val += len(chips)
        if chips:
            val.append((k, ChipDataset(chips=chips, **common)))  # type: ignore[arg-type]
    probabilities = None
    if c.source_weights is not None:
        chip_sources = [s.source_of[ch.image] for ch in train_chips]
        probabilities = sampling_probabilities(chip_sources, c.source_weights)
    return Chips(train, val, n_val, probabilities)
