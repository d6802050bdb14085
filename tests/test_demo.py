"""`latentlab demo`: the main job end to end (quick settings)."""

from __future__ import annotations

import re

from latentlab import open_store
from latentlab.cli import main


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out / 'report.html'}" in printed
    assert (out / "model" / "encoder.keras").is_file() and (out / "model" / "decoder.keras").is_file()
    with open_store(out / "z.h5") as s:
        assert s.n == 100 and s.z_dim == 16 and s.complete and s.attrs["dataset"] == "lfw"
    page = (out / "report.html").read_text()
    # self-contained: figures embedded, nothing fetched
    assert "data:image/png;base64," in page and not re.search(r'src="(http|//)', page)
    for title in ("Overview", "Reconstructions", "Components", "Correlations", "Radii", "PCA", "Fragments and filaments", "Sampling regions"):
        assert f"<h2>{title}" in page, title
    # every figure has a caption
    assert page.count("<figure>") == page.count("<figcaption>") > 10
