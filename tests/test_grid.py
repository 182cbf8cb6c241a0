"""Chip-grid math: the seed's positions, flush-to-edge, small images."""

import pytest

from basiss.grid import axis_starts, chip_grid, chip_windows


def test_seed_positions_1300_400_300():
    assert axis_starts(1300, 400, 300) == [0, 300, 600, 900]


def test_last_chip_flush_with_edge():
    starts = axis_starts(1000, 400, 300)
    assert starts == [0, 300, 600]
    assert starts[-1] + 400 == 1000


def test_no_overlap_exact_fit():
    assert axis_starts(1200, 400, 400) == [0, 400, 800]


def test_smaller_than_chip_gives_one_padded_chip():
    assert axis_starts(250, 400, 300) == [0]
    wins = chip_windows(250, 180, 400, 400, 300, 300)
    assert len(wins) == 1
    assert (wins[0].width, wins[0].height) == (400, 400)


def test_every_pixel_covered():
    for size in (1, 399, 400, 401, 1299, 1300, 1301, 8000):
        starts = axis_starts(size, 400, 300)
        covered = set()
        for s in starts:
            covered.update(range(s, min(s + 400, size)))
        assert covered == set(range(size)), size
        assert starts == sorted(set(starts))


def test_rectangular_grid_row_major():
    g = chip_grid(1300, 700, 400, 400, 300, 300)
    assert g.cols == (0, 300, 600, 900)
    assert g.rows == (0, 300)
    wins = g.windows()
    assert len(wins) == len(g) == 8
    assert [(w.col_off, w.row_off) for w in wins[:5]] == [
        (0, 0),
        (300, 0),
        (600, 0),
        (900, 0),
        (0, 300),
    ]


def test_invalid_arguments():
    with pytest.raises(ValueError):
        axis_starts(100, 0, 10)
