"""The file-list CSV: the seed's columns, paths relative to the CSV, one-line errors, round trip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from basiss.errors import BasissError
from basiss.io.filelist import COLUMNS, Pair, read_file_list, write_file_list


def _files(folder: Path, *names: str) -> list[Path]:
    out = []
    for name in names:
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
        out.append(p)
    return out


def test_seed_columns_and_relative_paths_resolve_against_the_csv_folder(tmp_path, monkeypatch):
    data = tmp_path / "data"
    _files(data, "images/a.tif", "masks/a.tif", "images/b.tif")
    csv_path = data / "list.csv"
    csv_path.write_text(
        "name,im_file,im_vis_file,mask_file,mask_vis_file\n"
        "a,images/a.tif,vis/a.png,masks/a.tif,\n"
        f"b,{data / 'images/b.tif'},,,\n"
    )
    monkeypatch.chdir(tmp_path)  # the current folder is not the CSV's: paths still resolve
    a, b = read_file_list("data/list.csv")
    assert a == Pair(
        "a",
        str(Path("data") / "images/a.tif"),
        str(Path("data") / "vis/a.png"),  # figures are not required to exist
        str(Path("data") / "masks/a.tif"),
        "",
    )
    assert Path(a.im_file).is_file() and Path(a.mask_file).is_file()
    assert b == Pair("b", str(data / "images/b.tif"))
    assert COLUMNS == ("name", "im_file", "im_vis_file", "mask_file", "mask_vis_file")


def test_only_name_and_im_file_are_required_columns(tmp_path):
    (img,) = _files(tmp_path, "x.tif")
    (tmp_path / "l.csv").write_text("im_file,name\nx.tif,x\n")
    assert read_file_list(tmp_path / "l.csv") == [Pair("x", str(img))]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name,mask_file\na,a.tif\n", "missing column(s) im_file"),
        ("file,path\na,a.tif\n", "missing column(s) name, im_file"),
        ("name,im_file\n", "file list has no rows"),
        ("name,im_file\n,a.tif\n", "line 2: empty name or im_file"),
        ("name,im_file\na,a.tif\nb,nope.tif\n", "line 3 (b): im_file"),
        ("name,im_file,mask_file\na,a.tif,gone.tif\n", "line 2 (a): mask_file"),
    ],
)
def test_bad_lists_are_one_line_errors_naming_the_csv(tmp_path, text, problem):
    _files(tmp_path, "a.tif")
    p = tmp_path / "l.csv"
    p.write_text(text)
    with pytest.raises(BasissError) as exc:
        read_file_list(p)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{p}: ") and problem in msg


def test_missing_list_is_an_error(tmp_path):
    with pytest.raises(BasissError, match="no such file list"):
        read_file_list(tmp_path / "none.csv")


def test_round_trip_with_write_file_list(tmp_path, monkeypatch):
    img, mask = _files(tmp_path / "d", "i.tif", "m.tif")
    monkeypatch.chdir(tmp_path)
    pairs = [
        Pair("i", str(img), "", str(mask), ""),
        Pair("j", os.path.join("d", "i.tif")),  # relative to the current folder
    ]
    out = write_file_list(tmp_path / "lists" / "l.csv", pairs)
    back = read_file_list(out)
    assert back[0] == pairs[0]
    assert back[1] == Pair("j", str(tmp_path / "d" / "i.tif"))
    assert not list(out.parent.glob(".*part*"))  # written atomically
    # the CSV holds absolute paths: a copy elsewhere still names the same files
    moved = tmp_path / "elsewhere.csv"
    moved.write_text(out.read_text())
    assert read_file_list(moved) == back
