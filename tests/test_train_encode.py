"""Train → encode round trip on the CelebA-layout fixture, bring-your-own models, CLI errors."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np

from latentlab import open_store
from latentlab.cli import main


def test_model_directory_contents(rgb_model):
    names = {p.name for p in rgb_model.iterdir()}
    assert {"encoder.keras", "decoder.keras", "config.json", "history.csv", "checkpoint.keras", "previews"} <= names
    cfg = json.loads((rgb_model / "config.json").read_text())
    assert cfg["image_size"] == 32 and cfg["channels"] == 3 and cfg["z_dim"] == 8
    assert cfg["epochs_done"] == 2 and cfg["loss"] == "bce" and cfg["crop"] == [178, 178]
    assert cfg["data"]["dataset"] == "celeba" and cfg["data"]["partition"] == "train" and cfg["data"]["n_images"] == 80
    assert cfg["preprocessing"]["crop"] == [178, 178]
    assert len((rgb_model / "history.csv").read_text().strip().splitlines()) == 3
    assert sorted(p.name for p in (rgb_model / "previews").iterdir()) == ["epoch_001.png", "epoch_002.png"]


def test_encode_celeba_fixture_into_a_complete_store(rgb_model, celeba_dir, tmp_path, capsys):
    out = tmp_path / "z.h5"
    rc = main(["encode", "--model", str(rgb_model), "--data", str(celeba_dir), "--dataset", "celeba",
               "--out", str(out), "--batch-size", "32", "--quiet"])
    assert rc == 0
    assert "100 rows" in capsys.readouterr().out
    with h5py.File(out, "r") as f:
        assert f["z"].shape == (100, 8) and f["z"].dtype == np.float32
        assert f["ids"].asstr()[0] == "000001.jpg"
        assert f["attributes"].shape == (100, 40)
        assert f.attrs["complete"] and f.attrs["dataset"] == "celeba" and f.attrs["image_size"] == 32
        assert len(f.attrs["model_sha256"]) == 64
    with open_store(out) as s:
        assert np.isfinite(s.read_z()).all()
        assert (s.partition[:] >= 0).all()
        # the same image encodes to the same z through the API
        from latentlab.model import load_autoencoder
        from latentlab.sources import Preprocessing, open_source

        ae = load_autoencoder(rgb_model)
        src = open_source("celeba", celeba_dir)
        img = src.load(42, Preprocessing(32, 3, (178, 178)))
        np.testing.assert_allclose(ae.encode(img[None])[0], s.z[42], rtol=1e-4, atol=1e-5)


def test_encode_partition_and_resume(rgb_model, celeba_dir, tmp_path):
    out = tmp_path / "val.h5"
    assert main(["encode", "--model", str(rgb_model), "--data", str(celeba_dir), "--partition", "val",
                 "--out", str(out), "-q"]) == 0
    with open_store(out) as s:
        assert s.n == 10 and (s.partition[:] == 1).all()
    # resuming a complete store is a no-op, not a rewrite
    assert main(["encode", "--model", str(rgb_model), "--data", str(celeba_dir), "--partition", "val",
                 "--out", str(out), "--resume", "-q"]) == 0


def test_bring_your_own_model(rgb_model, celeba_dir, tmp_path):
    byo = tmp_path / "byo"
    byo.mkdir()
    shutil.copy(rgb_model / "encoder.keras", byo / "E.keras")
    shutil.copy(rgb_model / "decoder.keras", byo / "D.keras")
    out = tmp_path / "z.h5"
    rc = main(["encode", "--encoder", str(byo / "E.keras"), "--decoder", str(byo / "D.keras"),
               "--data", str(celeba_dir), "--dataset", "celeba", "--out", str(out), "-q"])
    assert rc == 0
    with open_store(out) as s:
        assert s.z_dim == 8 and s.n == 100


def test_training_resumes_from_the_last_epoch(celeba_dir, tmp_path):
    from latentlab.model import train

    out = tmp_path / "m"
    train(celeba_dir, "celeba", out, image_size=16, channels=1, z_dim=4, filters=(4, 4, 4, 4), epochs=1,
          batch_size=32, verbose=0, limit=40)
    r = train(celeba_dir, "celeba", out, image_size=16, channels=1, z_dim=4, filters=(4, 4, 4, 4), epochs=3,
              batch_size=32, verbose=0, limit=40, resume=True)
    assert r.epochs_run == 2 and r.config.epochs_done == 3
    assert len((out / "history.csv").read_text().strip().splitlines()) == 4


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err


def test_clear_errors(rgb_model, demo, celeba_dir, tmp_path, capsys):
    # missing directory
    assert main(["encode", "--model", str(rgb_model), "--data", str(tmp_path / "nope"), "--dataset", "folder",
                 "--out", str(tmp_path / "a.h5")]) == 2
    assert "no such directory" in _err(capsys)
    # empty folder
    (tmp_path / "empty").mkdir()
    assert main(["train", "--data", str(tmp_path / "empty"), "--dataset", "folder", "--out", str(tmp_path / "m")]) == 2
    assert "no images" in _err(capsys)
    # unreadable model
    broken = tmp_path / "broken"
    shutil.copytree(rgb_model, broken)
    (broken / "encoder.keras").write_bytes(b"not a zip")
    assert main(["encode", "--model", str(broken), "--data", str(celeba_dir), "--out", str(tmp_path / "b.h5")]) == 2
    err = _err(capsys)
    assert "cannot load Keras model" in err and len(err.splitlines()) == 1
    # model directory missing a file
    (broken / "decoder.keras").unlink()
    assert main(["encode", "--model", str(broken), "--data", str(celeba_dir), "--out", str(tmp_path / "b.h5")]) == 2
    assert "no decoder.keras" in _err(capsys)
    # z_dim mismatch: encoder gives 8, decoder takes 16
    assert main(["encode", "--encoder", str(rgb_model / "encoder.keras"), "--decoder",
                 str(demo.model_dir / "decoder.keras"), "--data", str(celeba_dir), "--out", str(tmp_path / "c.h5")]) == 2
    assert "z_dim mismatch" in _err(capsys)
    # z_dim mismatch against an existing store on --resume
    assert main(["encode", "--model", str(demo.model_dir), "--dataset", "lfw", "--out",
                 str(tmp_path / "d.h5"), "-q"]) == 0
    assert main(["encode", "--model", str(rgb_model), "--data", str(celeba_dir), "--out", str(tmp_path / "d.h5"),
                 "--resume", "-q"]) == 2
    assert "z_dim" in _err(capsys)
    assert not (tmp_path / "a.h5").exists() and not (tmp_path / "b.h5").exists() and not (tmp_path / "c.h5").exists()


def test_info_describes_the_store(demo, capsys):
    assert main(["info", str(demo.store), "--check"]) == 0
    out = capsys.readouterr().out
    assert "rows        100" in out and "z_dim       16" in out and "complete    yes" in out
    assert "non-finite  none" in out and "lfw" in out


def test_report_with_bring_your_own_model(demo, tmp_path, capsys):
    out = tmp_path / "rep"
    rc = main(["report", str(demo.store), "--out", str(out), "--sections", "overview,reconstructions",
               "--encoder", str(demo.model_dir / "encoder.keras"), "--decoder", str(demo.model_dir / "decoder.keras")])
    assert rc == 0, capsys.readouterr().err
    page = (out / "report.html").read_text()
    assert "<h2>Reconstructions" in page and "Mean squared pixel error" in page


def test_report_refuses_half_a_model(demo, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(demo.store), "--out", str(out), "--encoder", str(demo.model_dir / "encoder.keras")]) == 2
    err = _err(capsys)
    assert "needs both --encoder and --decoder" in err and len(err.splitlines()) == 1
    assert main(["report", str(demo.store), "--out", str(out), "--model", str(tmp_path / "nope")]) == 2
    assert "no such model directory" in _err(capsys)
    assert not out.exists()
