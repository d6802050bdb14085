"""Training killed with SIGKILL after an epoch checkpoint resumes from that checkpoint."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

from latentlab.cli import main

CLI = [sys.executable, "-c", "import sys; from latentlab.cli import main; sys.exit(main(sys.argv[1:]))"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


def test_killed_training_resumes_from_the_last_epoch(celeba_dir, tmp_path, capsys):
    out = tmp_path / "m"
    args = ["train", "--data", str(celeba_dir), "--dataset", "celeba", "--out", str(out), "--image-size", "16",
            "--channels", "1", "--z-dim", "4", "--filters", "4,4,4,4", "--batch-size", "16", "--limit", "48"]
    proc = subprocess.Popen(CLI + args + ["--epochs", "200"], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    config = out / "config.json"
    deadline = time.monotonic() + 180
    try:
        while True:
            assert proc.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline
            if config.exists():
                try:
                    if json.loads(config.read_text())["epochs_done"] >= 1:
                        break
                except (ValueError, KeyError):
                    pass  # config.json is replaced atomically; a torn read cannot happen, but be safe
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = json.loads(config.read_text())["epochs_done"]
    assert 1 <= done < 200
    # without --resume the model directory is not overwritten
    assert main(args + ["--epochs", str(done + 2)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "--resume" in err and len(err.splitlines()) == 1

    assert main(args + ["--epochs", str(done + 2), "--resume"]) == 0
    assert f"{done + 2} epochs" in capsys.readouterr().out
    cfg = json.loads(config.read_text())
    assert cfg["epochs_done"] == done + 2
    with open(out / "history.csv") as fh:
        epochs = [int(row["epoch"]) for row in csv.DictReader(fh)]
    # one row per epoch, none repeated: the run went on from the checkpoint (a kill between the
    # checkpoint and its history row may lose that one row, never repeat an epoch)
    assert epochs == sorted(set(epochs)) and epochs[-2:] == [done, done + 1]
    assert len(epochs) in (done + 2, done + 1)
    from latentlab.model import load_autoencoder

    ae = load_autoencoder(out)
    assert ae.z_dim == 4 and ae.image_shape == (16, 16, 1)
    assert [p.name for p in out.iterdir() if ".tmp" in p.name] == []


def test_training_killed_before_any_checkpoint_starts_again(celeba_dir, tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "previews").mkdir()  # what a run killed during its first epoch leaves
    args = ["train", "--data", str(celeba_dir), "--dataset", "celeba", "--out", str(out), "--image-size", "16",
            "--channels", "1", "--z-dim", "2", "--filters", "2,2,2,2", "--batch-size", "16", "--limit", "16",
            "--epochs", "1", "--resume"]
    assert main(args) == 0
    assert json.loads((out / "config.json").read_text())["epochs_done"] == 1
