"""Names, parameters, files and shapes are refused before TensorFlow is imported; usage errors are one line."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from latentlab import write_store
from latentlab.cli import main


def _fake_decoder(path, z_dim):
    """A .keras zip whose config.json says the decoder takes (None, z_dim); no weights: loading it would fail."""
    config = {"module": "keras.src.models.functional", "class_name": "Functional", "config": {
        "name": "decoder", "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "name": "z",
             "config": {"batch_shape": [None, z_dim], "dtype": "float32", "name": "z"}, "inbound_nodes": []}],
        "input_layers": ["z", 0, 0], "output_layers": ["image", 0, 0]}}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("metadata.json", "{}")


@pytest.fixture()
def setup(tmp_path):
    rng = np.random.default_rng(0)
    store, other = tmp_path / "z.h5", tmp_path / "other.h5"
    write_store(store, rng.normal(size=(200, 6)), ids=[f"p{i}" for i in range(200)])
    write_store(other, rng.normal(size=(200, 6)))
    assert main(["fit-region", "--z", str(other), "--out", str(tmp_path / "other.region")]) == 0
    for name, z_dim in (("model6", 6), ("model9", 9)):
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"z_dim": z_dim, "image_size": 32, "channels": 1}))
        # not Keras files: a command that got as far as loading them would import TensorFlow and fail differently
        (d / "encoder.keras").write_bytes(b"not a model")
        (d / "decoder.keras").write_bytes(b"not a model")
    _fake_decoder(tmp_path / "dec9.keras", 9)
    return tmp_path


def test_bad_names_files_and_shapes_fail_before_tensorflow(setup):
    d = str(setup)
    cases = [
        (["sample", "--z", f"{d}/z.h5", "--out", f"{d}/s.png", "--model", f"{d}/model6", "--region", "elipsoid"],
         "did you mean ellipsoid"),
        (["sample", "--z", f"{d}/z.h5", "--out", f"{d}/s.png", "--model", f"{d}/model6", "--param", "sigma=-1"], "sigma"),
        (["sample", "--z", f"{d}/z.h5", "--out", f"{d}/s.png", "--model", f"{d}/model6",
          "--region-file", f"{d}/other.region"], "another store"),
        (["sample", "--z", f"{d}/z.h5", "--out", f"{d}/s.png", "--model", f"{d}/model9"], "z_dim 6 does not match the model's z_dim 9"),
        (["sample", "--z", f"{d}/z.h5", "--out", f"{d}/s.png", "--decoder", f"{d}/dec9.keras"], "z_dim 9"),
        (["path", "--z", f"{d}/z.h5", "--out", f"{d}/s.png", "--model", f"{d}/model9"], "z_dim 9"),
        (["path", "--z", f"{d}/z.h5", "--out", f"{d}/s.png", "--model", f"{d}/model6",
          "--region-file", f"{d}/other.region"], "another store"),
        (["interpolate", "--z", f"{d}/z.h5", "p1", "p2", "--out", f"{d}/s.png", "--model", f"{d}/model9"], "z_dim 9"),
        (["interpolate", "--z", f"{d}/z.h5", "p1", "nope", "--out", f"{d}/s.png", "--model", f"{d}/model6"], "'nope'"),
        (["reconstruct", "--z", f"{d}/z.h5", "--out", f"{d}/s.png", "--model", f"{d}/model9"], "z_dim 9"),
        (["export", f"{d}/z.h5", "--parquet", f"{d}/x.parquet", "--decoder", f"{d}/dec9.keras"], "z_dim 9"),
        (["sample", "--z", f"{d}/z.h5", "--out", f"{d}/s.png", "--model", f"{d}/nomodel"], "no such model directory"),
    ]
    script = (
        "import contextlib, io, json, sys\n"
        "from latentlab.cli import main\n"
        f"cases = {json.dumps([c for c, _ in cases])}\n"
        "results = []\n"
        "for args in cases:\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stderr(err):\n"
        "        rc = main(args)\n"
        "    results.append([rc, err.getvalue(), 'tensorflow' in sys.modules or 'keras' in sys.modules])\n"
        "print(json.dumps(results))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for (args, words), (rc, err, tf_imported) in zip(cases, results):
        assert rc == 2, (args, err)
        assert err.startswith("error: ") and err.count("\n") == 1, (args, err)
        assert words in err, (args, err)
        assert not tf_imported, (args, "TensorFlow was imported before the error")


def test_peek_reads_the_z_dim_keras_saved(tmp_path):
    from latentlab._tf import import_keras
    from latentlab.model._peek import peek_z_dim

    keras = import_keras()
    z = keras.Input((7,), name="z")
    image = keras.layers.Reshape((4, 4, 1))(keras.layers.Dense(16)(z))
    keras.Model(z, image, name="decoder").save(tmp_path / "decoder.keras")
    assert peek_z_dim(decoder=tmp_path / "decoder.keras") == 7
    seq = keras.Sequential([keras.Input((5,)), keras.layers.Dense(16), keras.layers.Reshape((4, 4, 1))])
    seq.save(tmp_path / "seq.keras")
    assert peek_z_dim(decoder=tmp_path / "seq.keras") == 5
    (tmp_path / "junk.keras").write_bytes(b"junk")
    assert peek_z_dim(decoder=tmp_path / "junk.keras") is None  # loading it says what is wrong


@pytest.mark.parametrize("args, words", [
    (["sample", "--z", "z.h5", "--sigm", "2"], "No such option: --sigm"),
    (["sample", "--out", "x.png"], "Missing option '--z'"),
    (["subset", "z.h5", "--out", "s.h5", "--n", "many"], "'--n'"),
    (["no-such-command"], "No such command"),
])
def test_usage_errors_are_one_line(capsys, args, words):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err and "--help" in err, err


def test_fit_region_takes_the_aliases_the_docs_promise(setup):
    from latentlab.regions import load_region

    d = setup
    assert main(["fit-region", "--z", str(d / "z.h5"), "--out", str(d / "e.region"), "--fill", "uniform",
                 "--bound", "axis", "--sigma", "1.5"]) == 0
    e = load_region(d / "e.region")
    assert (e.fill, e.bound, e.sigma) == ("uniform", "axis", 1.5)
    assert main(["fit-region", "--z", str(d / "z.h5"), "--out", str(d / "p.region"), "--region", "planes",
                 "--axes", "original"]) == 0
    assert load_region(d / "p.region").axes == "original"
    assert main(["fit-region", "--z", str(d / "z.h5"), "--out", str(d / "c.region"), "--region", "cube", "--b", "1.5"]) == 0
    assert load_region(d / "c.region").b == 1.5
