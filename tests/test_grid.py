"""Chip-grid math: the seed's positions, flush-to-edge, small images."""

import pytest

from basiss.grid import axis_starts, chip_grid, halo_start, owned_rows, split_rows


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
    wins = chip_grid(250, 180, 400, 400, 300, 300).windows()
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


def test_axis_end_pixel_covered_when_size_minus_one_is_a_stride_multiple():
    # the seed's range(0, size - 1, stride) stops one pixel short here
    assert axis_starts(9, 4, 4) == [0, 4, 5]
    assert axis_starts(1201, 400, 400) == [0, 400, 800, 801]
    assert axis_starts(64, 1, 1) == list(range(64))


# ----------------------------------------------------------------- row blocks and halos


def test_owned_rows_tile_the_image():
    g = chip_grid(100, 1300, 400, 400, 300, 300)  # rows 0, 300, 600, 900
    assert owned_rows(g, 0, 1) == (0, 300)
    assert owned_rows(g, 1, 3) == (300, 900)
    assert owned_rows(g, 3, 4) == (900, 1300)  # the last block reaches the bottom
    assert owned_rows(g, 0, 4) == (0, 1300)
    for bad in ((2, 2), (-1, 1), (0, 5)):
        with pytest.raises(ValueError):
            owned_rows(g, *bad)


def test_halo_start_values():
    assert halo_start([0, 300, 600, 900], 400, 0) == 0
    assert halo_start([0, 300, 600, 900], 400, 2) == 1  # chip at 300 reaches 600..699
    assert halo_start([0, 300, 600, 900], 300, 2) == 2  # no overlap: no halo
    assert halo_start([0, 48, 96, 136], 64, 3) == 2  # the flush last row overlaps more
    assert halo_start([0, 10, 20, 30, 40], 35, 4) == 1  # a tall chip: three halo rows


@pytest.mark.parametrize(("size", "sy", "ty"), [(700, 64, 48), (217, 64, 20), (1300, 400, 300)])
def test_halo_is_exactly_the_chip_rows_reaching_the_block(size, sy, ty):
    g = chip_grid(50, size, 64, sy, 48, ty)
    for first in range(len(g.rows)):
        begin = halo_start(g.rows, sy, first)
        reach = [i for i, r in enumerate(g.rows[:first]) if r + sy > g.rows[first]]
        assert list(range(begin, first)) == reach


def test_split_rows():
    assert split_rows(27, 4) == [(0, 6), (6, 13), (13, 20), (20, 27)]
    assert split_rows(3, 10) == [(0, 1), (1, 2), (2, 3)]  # never an empty block
    assert split_rows(5, 1) == [(0, 5)]
    with pytest.raises(ValueError):
        split_rows(0, 2)
