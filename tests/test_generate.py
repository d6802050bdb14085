"""Decoding samples, paths, interpolations and reconstructions with the demo model; the CLI commands."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from PIL import Image

from latentlab import LatentlabError, open_store
from latentlab.cli import main
from latentlab.generate import interpolate, path_images, reconstruct, sample_images, slerp
from latentlab.regions import EllipsoidRegion


@pytest.fixture(scope="module")
def ae(demo):
    from latentlab.model import load_autoencoder

    return load_autoencoder(demo.model_dir)


@pytest.fixture(scope="module")
def demo_z(demo):
    with open_store(demo.store) as s:
        return s.read_z(dtype=np.float64), list(s.read_ids())


def test_sample_images_decodes_region_samples(demo, ae):
    a = sample_images(demo.store, "ellipsoid", n=12, seed=3, params={"sigma": 1.5}, autoencoder=ae)
    b = sample_images(demo.store, "ellipsoid", n=12, seed=3, params={"sigma": 1.5}, autoencoder=ae)
    assert a.images.shape == (12, *ae.image_shape)
    assert a.images.min() >= 0 and a.images.max() <= 1
    np.testing.assert_array_equal(a.z, b.z)
    assert a.info["region"]["params"]["sigma"] == 1.5
    assert a.info["region"]["fitted"]["mass_"] == pytest.approx(0.8664, abs=1e-3)


def test_sample_cli_writes_grid_images_and_z_store(demo, tmp_path, capsys):
    out = tmp_path / "grid.png"
    rc = main(["sample", "--model", str(demo.model_dir), "--z", str(demo.store), "--region", "gmm",
               "--components", "3", "--n", "10", "--seed", "1", "--out", str(out),
               "--save-z", str(tmp_path / "samples.h5"), "--save-images", str(tmp_path / "imgs")])
    assert rc == 0, capsys.readouterr().err
    grid = Image.open(out)
    assert grid.width > grid.height > 0
    pngs = sorted((tmp_path / "imgs").glob("sample_*.png"))
    side = demo_side(demo)
    assert len(pngs) == 10 and Image.open(pngs[0]).size == (side, side)
    with open_store(tmp_path / "samples.h5") as s:
        assert s.n == 10 and s.attrs["region"] == "gmm"
        sampler = json.loads(s.attrs["sampler"])
        assert sampler["params"]["n_components"] == 3 and s.attrs["seed"] == 1
        z = s.read_z()
    # the same seed through the API gives the same z-points
    again = sample_images(demo.store, "gmm", n=10, seed=1, params={"n_components": 3}, model_dir=demo.model_dir)
    np.testing.assert_allclose(z, again.z.astype(np.float32))


def demo_side(demo):
    with open_store(demo.store) as s:
        return int(s.attrs["image_size"])


def test_sample_cli_user_errors(demo, tmp_path, capsys):
    rc = main(["sample", "--model", str(demo.model_dir), "--z", str(demo.store), "--region", "cube",
               "--sigma", "2", "--out", str(tmp_path / "x.png")])
    assert rc == 2 and "does not take sigma" in capsys.readouterr().err
    rc = main(["sample", "--z", str(demo.store), "--out", str(tmp_path / "x.png")])
    assert rc == 2 and "--model" in capsys.readouterr().err
    rc = main(["sample", "--model", str(demo.model_dir), "--z", str(demo.store), "--region", "blob",
               "--out", str(tmp_path / "x.png")])
    assert rc == 2 and "unknown region" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_paths_in_pca_plane(demo, ae, demo_z):
    Z, _ = demo_z
    frame = EllipsoidRegion().fit(Z)
    line = path_images(demo.store, plane=(0, 1), steps=5, extent=2.0, partition="all", autoencoder=ae)
    np.testing.assert_allclose(line.z[2], Z.mean(axis=0), atol=1e-6)
    u = frame.to_whitened(line.z)
    np.testing.assert_allclose(u[:, 0], [-2, -1, 0, 1, 2], atol=1e-6)
    np.testing.assert_allclose(u[:, 1:], 0, atol=1e-6)
    circle = path_images(demo.store, plane=(1, 3), shape="circle", steps=8, extent=1.5, partition="all", autoencoder=ae)
    uc = frame.to_whitened(circle.z)
    np.testing.assert_allclose(np.hypot(uc[:, 1], uc[:, 3]), 1.5, atol=1e-6)
    assert circle.images.shape[0] == 8
    orig = path_images(demo.store, plane=(2, 5), axes="original", steps=3, extent=1.0, partition="all", autoencoder=ae)
    np.testing.assert_allclose(orig.z[2] - orig.z[1], np.eye(Z.shape[1])[2] * Z[:, 2].std(), atol=1e-6)
    with pytest.raises(LatentlabError, match="plane"):
        path_images(demo.store, plane=(0, 0), autoencoder=ae)


def test_interpolate_linear_and_spherical(demo, ae, demo_z):
    Z, ids = demo_z
    lin = interpolate(demo.store, ids[0], ids[7], steps=6, autoencoder=ae)
    np.testing.assert_allclose(lin.z[0], Z[0], atol=1e-6)
    np.testing.assert_allclose(lin.z[-1], Z[7], atol=1e-6)
    np.testing.assert_allclose(np.diff(lin.z, axis=0), np.diff(lin.z, axis=0)[:1].repeat(5, axis=0), atol=1e-6)
    sph = interpolate(demo.store, ids[0], ids[7], steps=6, method="spherical", autoencoder=ae)
    np.testing.assert_allclose(sph.z[[0, -1]], Z[[0, 7]], atol=1e-6)
    norms = np.linalg.norm(sph.z, axis=1)
    assert norms.min() >= min(norms[0], norms[-1]) - 1e-6  # slerp does not cut through the middle
    assert lin.labels[0] == ids[0] and sph.info["method"] == "spherical"
    with pytest.raises(LatentlabError, match="no image with id"):
        interpolate(demo.store, "nope", ids[1], autoencoder=ae)
    # slerp of orthogonal unit vectors stays on the unit circle
    s = slerp(np.array([1.0, 0]), np.array([0, 1.0]), np.linspace(0, 1, 5))
    np.testing.assert_allclose(np.linalg.norm(s, axis=1), 1.0)


def test_reconstruct_reads_originals(demo, ae, demo_z):
    _, ids = demo_z
    originals, decoded = reconstruct(demo.store, [ids[3], ids[9]], autoencoder=ae)
    assert originals is not None and originals.shape == (2, *ae.image_shape)
    assert decoded.labels == [ids[3], ids[9]]
    mse = float(((originals / 255.0 - decoded.images) ** 2).mean())
    assert mse < 0.05  # a trained model reconstructs its training faces


def test_path_interpolate_reconstruct_cli(demo, demo_z, tmp_path, capsys):
    _, ids = demo_z
    m, z = str(demo.model_dir), str(demo.store)
    assert main(["path", "--model", m, "--z", z, "--shape", "circle", "--plane", "0,2", "--steps", "6",
                 "--out", str(tmp_path / "p.png"), "--save-images", str(tmp_path / "p")]) == 0
    assert len(list((tmp_path / "p").glob("path_*.png"))) == 6
    assert main(["interpolate", "--model", m, "--z", z, ids[1], ids[2], "--method", "spherical",
                 "--out", str(tmp_path / "i.png")]) == 0
    assert main(["reconstruct", "--model", m, "--z", z, ids[0], ids[4], "--out", str(tmp_path / "r.png")]) == 0
    out = capsys.readouterr().out
    assert "spherical interpolation" in out and "mean squared pixel error" in out
    for name in ("p.png", "i.png", "r.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert main(["path", "--model", m, "--z", z, "--plane", "1", "--out", str(tmp_path / "bad.png")]) == 2


def test_sampling_commands_do_not_import_tensorflow_at_cli_import():
    import subprocess
    import sys

    code = ("import sys, latentlab.cli, latentlab.generate, latentlab.regions, latentlab.metrics; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_fragment_sampler_from_store(tmp_path, demo, ae, demo_z):
    Z, _ = demo_z
    labels = (Z[:, 0] > np.median(Z[:, 0])).astype(np.int32)  # "main fragment" 0 = lower half
    with h5py.File(tmp_path / "fragments.h5", "w") as f:
        f["fragment"] = labels
        f["index"] = np.arange(len(Z))
    res = sample_images(demo.store, "fragment:mnd", n=4, fragments=tmp_path / "fragments.h5", autoencoder=ae)
    assert res.info["region"]["base"]["fitted"]["n_fit_"] == int((labels == 0).sum())


@pytest.fixture(scope="module")
def keras_decoder(demo):
    """The demo's decoder loaded by Keras itself: the expected images never go through latentlab."""
    import keras

    return keras.saving.load_model(demo.model_dir / "decoder.keras", compile=False)


def _decoded(decoder, z):
    return np.asarray(decoder(np.asarray(z, np.float32)), dtype=np.float64)


def test_decoded_images_are_the_decoder_of_their_z(demo, ae, demo_z, keras_decoder, tmp_path):
    Z, ids = demo_z
    samples = sample_images(demo.store, "ellipsoid", n=6, seed=2, autoencoder=ae)
    np.testing.assert_allclose(samples.images, _decoded(keras_decoder, samples.z), atol=1e-5)
    line = path_images(demo.store, plane=(0, 1), steps=4, extent=1.0, partition="all", autoencoder=ae)
    np.testing.assert_allclose(line.images, _decoded(keras_decoder, line.z), atol=1e-5)
    lin = interpolate(demo.store, ids[2], ids[5], steps=4, autoencoder=ae)
    np.testing.assert_allclose(lin.images, _decoded(keras_decoder, lin.z), atol=1e-5)
    # a reconstruction decodes the stored z of that id, read here with plain h5py
    with h5py.File(demo.store, "r") as f:
        stored = {(i.decode() if isinstance(i, bytes) else str(i)): row for row, i in enumerate(f["ids"][:])}
        z_rows = np.asarray(f["z"][[stored[ids[4]], stored[ids[8]]]], dtype=np.float64)
    _, rec = reconstruct(demo.store, [ids[4], ids[8]], autoencoder=ae)
    np.testing.assert_allclose(rec.z, z_rows, atol=1e-6)
    np.testing.assert_allclose(rec.images, _decoded(keras_decoder, z_rows), atol=1e-5)


def test_saved_sample_pngs_are_the_decoder_of_the_saved_z(demo, keras_decoder, tmp_path, capsys):
    rc = main(["sample", "--model", str(demo.model_dir), "--z", str(demo.store), "--region", "mnd", "--n", "5",
               "--seed", "4", "--out", str(tmp_path / "grid.png"), "--save-z", str(tmp_path / "s.h5"),
               "--save-images", str(tmp_path / "imgs")])
    assert rc == 0, capsys.readouterr().err
    with h5py.File(tmp_path / "s.h5", "r") as f:
        z = np.asarray(f["z"][:], dtype=np.float64)
    expected = np.clip(_decoded(keras_decoder, z), 0, 1)
    pngs = sorted((tmp_path / "imgs").glob("sample_*.png"))
    assert len(pngs) == 5
    for png, image in zip(pngs, expected):
        pixels = np.asarray(Image.open(png), dtype=np.float64) / 255.0
        pixels = pixels[..., None] if pixels.ndim == 2 else pixels
        np.testing.assert_allclose(pixels, image, atol=1.0 / 255)
