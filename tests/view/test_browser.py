"""The page in a real browser: headless Chromium (Debian's) driven by playwright.

Skipped when ``/usr/bin/chromium`` or playwright is absent; playwright never downloads a
browser here (``executable_path`` points at the system one).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from basiss.view import style
from basiss.view.server import ViewServer

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
WIDTH, HEIGHT = 640, 480

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": WIDTH, "height": HEIGHT}, timeout=30_000,
        )  # fmt: skip
        yield ctx
        ctx.close()
    shutil.rmtree(profile, ignore_errors=True)


def open_page(browser, url: str):
    """A new tab on ``url``, with its console errors and failed requests collected."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.goto(url, wait_until="load", timeout=20_000)
    page.wait_for_function("window.basissView !== undefined", timeout=10_000)
    return page, errors


def show_only(page, names: list[str], lonlat: tuple[float, float], zoom: int) -> None:
    """Leave only the overlays ``names`` on, centre the map, wait for the tiles."""
    page.evaluate(
        """([names, lon, lat, zoom]) => {
            const v = window.basissView;
            for (const [name, layer] of Object.entries(v.overlays)) {
                if (names.includes(name)) v.map.addLayer(layer); else v.map.removeLayer(layer);
            }
            v.map.setView([lat, lon], zoom, {animate: false});
        }""",
        [names, lonlat[0], lonlat[1], zoom],
    )
    page.wait_for_load_state("networkidle", timeout=10_000)
    page.wait_for_function(
        "!document.querySelector('.leaflet-tile:not(.leaflet-tile-loaded)')", timeout=10_000
    )
    page.wait_for_timeout(300)  # Leaflet's fade-in


def centre_pixels(page, half: int = 3) -> np.ndarray:
    """The RGB pixels around the centre of a screenshot, (n, 3)."""
    import io

    from PIL import Image

    shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    arr = np.asarray(shot)
    cy, cx = arr.shape[0] // 2, arr.shape[1] // 2
    return arr[cy - half : cy + half + 1, cx - half : cx + half + 1].reshape(-1, 3)


def test_page_loads_with_layers_and_no_console_error(browser, view_page) -> None:
    with ViewServer(view_page) as server:
        page, errors = open_page(browser, server.url)
        page.wait_for_load_state("networkidle", timeout=10_000)
        names = page.evaluate("Object.keys(window.basissView.overlays)")
        labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        page.close()
    assert names == ["Imagery", "Probability", "Mask", "Road network", "Truth", "Footprints"]
    assert [t.strip() for t in labels] == names
    assert errors == []


def test_screenshot_shows_roads_where_the_mask_has_roads(browser, view_page, view_scene) -> None:
    with ViewServer(view_page) as server:
        page, errors = open_page(browser, server.url)
        show_only(page, ["Mask"], view_scene.lonlat(256, 300), 19)  # on the east-west road
        on_road = centre_pixels(page)
        show_only(page, ["Mask"], view_scene.lonlat(400, 400), 19)  # background
        off_road = centre_pixels(page)
        page.close()
    assert np.all(np.abs(on_road.astype(int) - style.MASK_RGB).max(axis=1) <= 2)
    assert np.all(np.abs(off_road.astype(int) - style.MASK_RGB).max(axis=1) > 50)
    assert errors == []


def test_click_shows_the_probability(browser, view_page, view_scene) -> None:
    with ViewServer(view_page) as server:
        page, errors = open_page(browser, server.url)
        show_only(page, ["Probability"], view_scene.lonlat(250, 300), 19)
        page.mouse.click(WIDTH // 2, HEIGHT // 2)
        page.wait_for_function(
            "document.getElementById('basiss-readout').textContent.includes('p =')",
            timeout=10_000,
        )
        text = page.inner_text("#basiss-readout")
        page.close()
    assert "scene: p = 0.902 (road)" in text
    assert errors == []


def test_export_opens_from_disk(browser, view_page, view_scene, tmp_path: Path) -> None:
    from basiss.view.export import export_view

    index = export_view(view_page, tmp_path / "web", min_zoom=17, max_zoom=18)
    page, errors = open_page(browser, index.as_uri())
    show_only(page, ["Mask"], view_scene.lonlat(256, 300), 18)
    on_road = centre_pixels(page, half=1)
    page.close()
    assert np.all(np.abs(on_road.astype(int) - style.MASK_RGB).max(axis=1) <= 2)
    assert errors == []
