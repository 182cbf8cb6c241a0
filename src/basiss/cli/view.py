"""`basiss view`: a local map page over predictions, imagery, road networks and truth."""

from __future__ import annotations

import argparse
import sys

from basiss.cli._common import non_negative_int

HELP = "open a local map of predictions, imagery, road networks and truth"

DESCRIPTION = """\
Show basiss outputs on a slippy map in the browser, served from this machine.

PATH are prediction folders or files: <stem>_prob.tif, <stem>_mask.tif,
<stem>_graph.geojson / _graph.gpkg, and imagery <stem>.tif (or give it with
--image). Layers, each switchable: imagery, probability (colour ramp, opacity
slider), mask, road network, truth outlines (--truth) and scene footprints; a
click shows the probability there. Tiles are cut from the GeoTIFFs as the map
asks for them, so large scenes open at once. Nothing is fetched from the
network unless you pick the online basemap.

--export DIR writes a static folder (tiles for a range of zooms, the page and
its vectors) that opens from disk with no server, then exits."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `basiss view`."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="prediction files or folders")
    parser.add_argument("--image", default=None, help="imagery file or folder, matched by stem")
    parser.add_argument(
        "--truth", nargs="+", default=[], metavar="T", help="truth centerline vector file(s)"
    )
    parser.add_argument(
        "--port", type=non_negative_int, default=8765, help="port on 127.0.0.1 (0: any free)"
    )
    parser.add_argument("--no-open", action="store_true", help="do not open a browser")
    parser.add_argument(
        "--export", default=None, metavar="DIR", help="write a static folder and exit"
    )
    parser.add_argument(
        "--min-zoom", type=non_negative_int, default=None, help="--export: coarsest zoom cut"
    )
    parser.add_argument(
        "--max-zoom", type=non_negative_int, default=None, help="--export: finest zoom cut"
    )


def run(args: argparse.Namespace) -> int:
    """Load the layers, then export them or serve them until interrupted."""
    from basiss.view.page import load
    from basiss.view.scenes import find_scenes

    page = load(find_scenes(args.paths, image=args.image, truth=args.truth))
    if args.export:
        from basiss.view.export import export_view

        index = export_view(page, args.export, min_zoom=args.min_zoom, max_zoom=args.max_zoom)
        print(f"static map: {index}")
        return 0
    return _serve(page, args.port, open_browser=not args.no_open)


def _serve(page: object, port: int, open_browser: bool) -> int:
    """Serve ``page`` on loopback until Ctrl-C."""
    import threading
    import webbrowser

    from basiss.view.server import ViewServer

    server = ViewServer(page, port=port).start()  # type: ignore[arg-type]
    print(f"basiss view: {server.url}  (Ctrl-C to stop)", file=sys.stderr)
    if open_browser:
        webbrowser.open(server.url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
