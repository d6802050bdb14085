"""Re-take the screenshots of docs/explore.md with headless Chromium.

    python docs/explore_screenshots.py Z.h5 MODEL_DIR      # e.g. the Fashion-MNIST store and model

Writes docs/explore-map.png (coloured by label, hovering a point) and
docs/explore-sample.png (a decoded click, a lasso and its sample grid),
each a PNG under 300 KB. The Fashion-MNIST store (70,000 points) is above
``max_glyphs``: its whole view is the server-rendered image.
"""

from __future__ import annotations

import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def save_small(page, path: Path, crop=None) -> None:
    from PIL import Image

    shot = Image.open(BytesIO(page.driver.get_screenshot_as_png())).convert("RGB")
    if crop:
        shot = shot.crop(crop)
    shot.save(path, optimize=True)
    if path.stat().st_size > 290_000:  # keep docs images small: fall back to a palette
        shot.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"{path}: {path.stat().st_size / 1024:.0f} KB")


def main(store: str, model: str) -> None:
    from latentlab.explore import ExploreApp, load_explore_data
    from latentlab.explore._testing import running_app

    data = load_explore_data(store, model_dir=model)
    with tempfile.TemporaryDirectory() as tmp, running_app(ExploreApp(data, out_dir=tmp), width=1560, height=1300) as page:
        page.open(timeout=300)
        rng = np.random.default_rng(3)
        row = int(rng.choice(np.flatnonzero(np.linalg.norm(data.scores[:, :2] / data.sd[:2], axis=1) > 1.5)))
        page.hover(*page.to_page(data.scores[row, 0], data.scores[row, 1]))
        page.wait("return window.__llDeep(document, 'img[data-role=hover-image]').length > 0;", timeout=60)
        time.sleep(1)
        save_small(page, HERE / "explore-map.png", crop=(0, 0, 1560, 700))

        page.click(*page.to_page(-0.8 * data.sd[0], 1.2 * data.sd[1]))
        page.wait("return window.__llDeep(document, 'img[data-role=decoded-image]').length > 0;", timeout=60)
        page.activate_tool("LassoSelectTool")
        own = data.scores[data.colours["label"].values == 1, :2].astype(np.float64) / data.sd[:2] \
            if "label" in data.colours else data.scores[:, :2] / data.sd[:2]
        centre = np.median(own, axis=0)
        radius = np.percentile(np.linalg.norm(own - centre, axis=1), 30)
        poly = [page.to_page((centre[0] + radius * np.cos(a)) * data.sd[0], (centre[1] + radius * np.sin(a)) * data.sd[1])
                for a in np.linspace(0, 2 * np.pi, 13)]
        # a store above max_glyphs shows an image and the server answers the lasso: wait for its status line
        page.lasso(poly, wait_s=120, done_js="return model('status').text.includes('points selected') && "
                                             "!model('sample-button').disabled;")
        page.set_value("n-samples", 16)
        page.set_value("region", "mnd")
        page.press("sample-button")
        page.wait("return window.__llDeep(document, '[data-role=grid]').length > 0;", timeout=300)
        time.sleep(1)
        save_small(page, HERE / "explore-sample.png", crop=(0, 0, 1560, 960))


if __name__ == "__main__":
    main(*sys.argv[1:3])
