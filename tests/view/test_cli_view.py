"""`basiss view` through its verb module (parse, run)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from basiss.cli import view
from basiss.errors import BasissError


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    view.add_arguments(p)
    return p.parse_args(argv)


def test_export_through_the_verb(view_scene, tmp_path: Path, capsys) -> None:
    out = tmp_path / "web"
    args = parse([str(view_scene.folder), "--truth", str(view_scene.truth), "--export", str(out)])
    args.min_zoom, args.max_zoom = 17, 18
    assert view.run(args) == 0
    assert f"static map: {out / 'index.html'}" in capsys.readouterr().out
    assert (out / "vectors" / "truth.geojson").is_file()


def test_bad_input_is_a_basiss_error(tmp_path: Path) -> None:
    args = parse([str(tmp_path / "missing"), "--no-open"])
    with pytest.raises(BasissError, match="missing: no such file or folder"):
        view.run(args)


def test_parser_defaults() -> None:
    args = parse(["x"])
    assert (args.port, args.no_open, args.export, args.truth) == (8765, False, None, [])
