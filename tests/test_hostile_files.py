"""Files written by someone else are data, never code.

Hostile and broken region files, ``.keras`` models, attribute CSVs and ``.npz`` image arrays, each crafted the
way a careless or malicious colleague's file looks: every one is refused with one ``error:`` line and exit 2,
nothing is written outside ``--out`` (nor ``--out`` itself), and nothing existing changes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from latentlab import LatentlabError, write_store
from latentlab.cli import main
from latentlab.regions import fit_region, load_region, save_region

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


# ------------------------------------------------------------------------------------------------ helpers
def _store(tmp_path, n=300, d=4, seed=0, name="z.h5"):
    Z = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return write_store(tmp_path / name, Z)


def _members(path) -> tuple[dict, dict, dict]:
    """(region.json, arrays, other members) of a region file."""
    with zipfile.ZipFile(path) as zf:
        doc = json.loads(zf.read("region.json"))
        with np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        others = {n: zf.read(n) for n in zf.namelist() if n not in ("region.json", "arrays.npz")}
    return doc, arrays, others


def _write_region(path, doc, arrays, others=(), *, raw_arrays: bytes | None = None, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("region.json", json.dumps(doc) if not isinstance(doc, (bytes, str)) else doc)
        zf.writestr("arrays.npz", buf.getvalue() if raw_arrays is None else raw_arrays)
        for name, data in dict(others).items():
            zf.writestr(name, data)
    return path


def _cli(argv, capsys, code=2) -> str:
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert rc == code, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "internal error" not in lines[0], captured.err
    return lines[0]


def _snapshot(*dirs) -> dict:
    return {p: p.read_bytes() for d in dirs for p in sorted(Path(d).rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------ region files: traversal
def _traversal_names(victim: Path, planted: Path) -> list[str]:
    up = "../" * 12
    return [str(victim), up + str(victim).lstrip("/"), str(planted), up + str(planted).lstrip("/"),
            "sub/../../x.keras", "flow_.keras/../../" + planted.name]


def test_region_member_names_never_choose_a_path(tmp_path, capsys):
    """The audit's critical finding: ``{"keras": NAME}`` was joined onto a temporary directory and written."""
    store = _store(tmp_path)
    good = save_region(fit_region("mnd", store), tmp_path / "good.region")
    doc, arrays, _ = _members(good)
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    planted = tmp_path / "site-packages" / "evil.pth"
    planted.parent.mkdir()
    for i, name in enumerate(_traversal_names(victim, planted)):
        bad_doc = json.loads(json.dumps(doc))
        bad_doc["state"]["flow_"] = {"keras": name}
        bad = _write_region(tmp_path / f"bad{i}.region", bad_doc, arrays, {name: b"import os; os.system('touch PWNED')\n"})
        with pytest.raises(LatentlabError):
            load_region(bad, store=store)
        out = tmp_path / f"cmp{i}"
        line = _cli(["compare-samplers", "--z", store, "--latent-only", "--n", "20", "--region-file", bad,
                     "--out", out], capsys)
        assert str(bad) in line
        assert victim.read_text() == "original" and not planted.exists() and not out.exists()
        assert not list(tmp_path.rglob("PWNED")) and not (Path.cwd() / "PWNED").exists()


def test_region_model_member_is_loaded_in_safe_mode(tmp_path):
    """A ``.keras`` member with a Lambda layer (Python bytecode) is refused, not run."""
    keras = pytest.importorskip("keras")
    store = _store(tmp_path)
    good = save_region(fit_region("mnd", store), tmp_path / "good.region")
    doc, arrays, _ = _members(good)
    marker = tmp_path / "ran.txt"
    inp = keras.Input((2,))
    out = keras.layers.Lambda(lambda x: x * 2.0)(inp)  # noqa: PLW0108 - a Lambda is the point
    model = keras.Model(inp, out)
    model_path = tmp_path / "lambda.keras"
    model.save(model_path)
    doc["state"]["flow_"] = {"keras": "model_0.keras"}
    bad = _write_region(tmp_path / "lambda.region", doc, arrays, {"model_0.keras": model_path.read_bytes()})
    with pytest.raises(LatentlabError, match="cannot be loaded safely"):
        load_region(bad, store=store)
    assert not marker.exists()
