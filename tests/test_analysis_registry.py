"""The analysis registry: every analysis runs by name, writes strict JSON, and is a CLI command and a report section."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import typer

from latentlab import LatentlabError, write_store
from latentlab.analysis import ANALYSES, get_analysis, run_analysis
from latentlab.analysis._contract import save_figures
from latentlab.cli import app, main


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(400, 5))
    z[:, 4] = 1.0  # a constant component: its skewness and normality test are NaN
    path = tmp_path_factory.mktemp("reg") / "z.h5"
    write_store(path, z, partition=np.arange(400) % 3)
    return path


@pytest.mark.parametrize("name", list(ANALYSES))
def test_every_analysis_runs_by_name_and_writes_strict_json(name, store, tmp_path):
    quick = get_analysis(name).defaults(quick=True)
    result = run_analysis(name, store, **{k: v for k, v in quick.items() if k not in ("partition",)})
    assert result.name == name
    written = result.save(tmp_path)
    assert tmp_path / f"{name}.json" in written
    for path in tmp_path.glob("*.json"):
        _strict(path.read_text())
    figures = save_figures(result, tmp_path)
    assert all(p.stat().st_size > 1000 for p, _ in figures)
    assert all(isinstance(line, str) for line in result.lines())


def test_unknown_analysis_and_option_are_errors(store):
    with pytest.raises(LatentlabError, match="unknown analysis"):
        run_analysis("nope", store)
    with pytest.raises(LatentlabError, match="unknown option"):
        run_analysis("radii", store, cube=1)


def test_every_analysis_is_a_command_with_its_declared_options():
    commands = typer.main.get_command(app).commands
    for name in ANALYSES:
        flags = {opt for p in commands[name].params for opt in p.opts}
        for option in get_analysis(name).all_options:
            if option.cli:
                assert option.flag in flags, (name, option.flag)
        assert {"--out", "--figures", "--report"} <= flags


@pytest.mark.parametrize("name", list(ANALYSES))
def test_bad_option_value_is_one_line_and_writes_nothing(name, store, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([name, str(store), "--out", str(out), "--seed", "abc"]) == 2
    assert "seed" in capsys.readouterr().err
    assert main([name, str(store), "--out", str(out), "--partition", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and "partition" in err
    assert not out.exists()


def test_report_flag_writes_one_page(store, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["radii", str(store), "--out", str(out), "--report"]) == 0
    html = (out / "radii.html").read_text()
    assert "<h2>Radii</h2>" in html and html.count("<img") == 2
    assert "radii.html" in capsys.readouterr().out


def test_adding_an_analysis_is_one_registry_line(store, tmp_path):
    """A new module and one ANALYSES entry give a CLI command (checked in a fresh process)."""
    code = f"""
import sys, types
import numpy as np
from latentlab.analysis import ANALYSES, AnalysisResult, Analysis, Option
from latentlab.analysis._streaming import Moments, open_passes

class Spread(AnalysisResult):
    name = "spread"
    def __init__(self, std): self.std = std
    def to_dict(self): return {{"std": self.std}}
    def lines(self): return [f"largest std {{self.std.max():.3g}}"]

def spread(data, partition=None, chunk_rows=None, engine="numpy", scheduler=None, *, ddof=0):
    with open_passes(data, partition, chunk_rows, engine, scheduler) as passes:
        return Spread(passes.run({{"m": Moments(passes.shift)}})["m"].std(ddof))

module = types.ModuleType("spread_module")
module.SPREAD = Analysis("spread", "Spread", "Std of every component.", run=spread,
                         options=(Option("ddof", 0, "Delta degrees of freedom."),))
sys.modules["spread_module"] = module
ANALYSES["spread"] = "spread_module:SPREAD"
from latentlab.cli import main
assert main(["spread", {str(store)!r}, "--out", {str(tmp_path)!r}, "--ddof", "1"]) == 0
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "largest std" in proc.stdout
    assert "std" in json.loads((tmp_path / "spread.json").read_text())
