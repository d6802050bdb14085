"""Long waits say what they are doing: report sections and fragments stages, export steps, training epochs."""

from __future__ import annotations

import csv
import re
import subprocess
import sys

import numpy as np
import pytest

from latentlab import write_store
from latentlab._stages import listen_to_stages, stage

LINE = re.compile(r"^\[\s*\d+\.\d s\] \S.*$")


@pytest.fixture()
def small_store(tmp_path):
    path = tmp_path / "z.h5"
    rng = np.random.default_rng(0)
    write_store(path, rng.normal(size=(600, 8)), partition=rng.integers(0, 3, 600))
    return path


def _run(args):
    # stderr is a pipe here, as in CI or `latentlab report … 2> log`: the plain-line form
    code = "import sys; from latentlab.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=900)


def test_report_prints_a_line_per_section_and_fragments_stage(small_store, tmp_path):
    proc = _run(["report", small_store, "--out", tmp_path / "rep", "--quick", "--sections", "pca,fragments"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert all(LINE.match(line) for line in lines), lines
    said = [line.split("] ", 1)[1] for line in lines]
    assert said[0] == "pca" and "fragments" in said
    for words in ("fragments: PCA", "-NN graph", "fragments: filaments", "fragments: density hierarchy",
                  "fragments: figures", "pca: figures"):
        assert any(words in s for s in said), (words, said)
    seconds = [float(line[1:].split(" s]")[0]) for line in lines]
    assert seconds == sorted(seconds)  # time since the start, never going back


def test_export_says_what_it_does(small_store, tmp_path):
    proc = _run(["export", small_store, "--parquet", tmp_path / "z.parquet"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    said = [line.split("] ", 1)[1] for line in proc.stderr.strip().splitlines() if LINE.match(line)]
    assert said[0].startswith("reading the store") and said[-1].startswith("Parquet table")


def test_stages_are_silent_unless_someone_listens(capsys):
    heard = []
    stage("nobody hears this")
    with listen_to_stages(heard.append):
        stage("a")
        with listen_to_stages(lambda text: heard.append("inner " + text)):
            stage("b")
        stage("c")
    assert heard == ["a", "inner b", "c"]
    assert capsys.readouterr() == ("", "")


def test_terminal_form_ticks_every_stage(monkeypatch, capsys):
    from latentlab.cli import _common

    monkeypatch.setattr(_common, "stderr_is_terminal", lambda: True)
    with _common.announce_stages():
        stage("first step")
        stage("second step")
    err = capsys.readouterr().err
    assert "first step" in err and "second step" in err and err.count("✓") == 2


def test_epoch_lines_when_not_a_terminal(monkeypatch, capsys):
    from latentlab.cli import _common

    monkeypatch.setattr(_common, "stderr_is_terminal", lambda: False)
    bar, update = _common.epoch_progress("training", 3)
    with bar:
        for epoch, loss in ((1, 0.5), (2, 0.25), (3, 0.125)):
            update(epoch, 3, loss)
    lines = capsys.readouterr().err.strip().splitlines()
    # the first epoch and the last always; between them at most one line every 5 s
    assert lines[0].startswith("training: epoch 1/3, loss 0.5000") and lines[-1].startswith("training: epoch 3/3, loss 0.1250")


def test_train_reports_every_epoch_with_the_logged_loss(tmp_path):
    from latentlab.model import train
    from latentlab.sources import LFWSource

    source = LFWSource().subset(np.arange(20))
    heard = []
    train(source=source, out=tmp_path / "m", image_size=16, channels=1, z_dim=4, filters=(4, 4, 4, 4), epochs=2,
          batch_size=10, verbose=0, on_epoch=lambda *a: heard.append(a))
    with open(tmp_path / "m" / "history.csv") as fh:
        logged = [float(row["loss"]) for row in csv.DictReader(fh)]  # Keras's own CSVLogger
    assert [(e, t) for e, t, _ in heard] == [(1, 2), (2, 2)]
    np.testing.assert_allclose([loss for _, _, loss in heard], logged, rtol=1e-6)
