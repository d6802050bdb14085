"""Fashion-MNIST from Debian's idx files, and attribute CSVs for any source."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from latentlab._errors import DataSourceError
from latentlab.sources import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    NpzSource,
    Preprocessing,
    open_source,
    read_attributes_csv,
    read_idx,
)

pytestmark = pytest.mark.skipif(not Path(FASHION_MNIST_DIR).is_dir(), reason="apt-get install dataset-fashion-mnist")


def _raw_images(name: str, n: int) -> np.ndarray:
    with gzip.open(Path(FASHION_MNIST_DIR) / name) as fh:
        data = fh.read(16 + n * 784)
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, 28, 28)


def test_reads_train_then_test_with_classes_as_one_hot_attributes():
    src = open_source("fashion-mnist", limit=5)
    assert len(src) == 5 and src.ids[0] == "train-00000" and src.dataset == "fashion-mnist"
    assert (src.partition == 0).all()
    assert src.attribute_names == list(FASHION_MNIST_CLASSES)
    assert src.attributes.dtype == np.int8 and set(np.unique(src.attributes)) == {-1, 1}
    assert (src.attributes == 1).sum(axis=1).tolist() == [1] * 5
    # the first training image of Fashion-MNIST is an ankle boot (label 9)
    assert src.attributes[0, 9] == 1 and src.labels[0] == 9
    test = open_source("fashion-mnist", partition="test", limit=3)
    assert test.ids == ["test-00000", "test-00001", "test-00002"] and (test.partition == 2).all()
    assert read_idx(Path(FASHION_MNIST_DIR) / "t10k-labels-idx1-ubyte.gz").shape == (10_000,)


def test_images_reach_the_model_exactly_like_an_npz_of_the_same_arrays(tmp_path):
    raw = _raw_images("train-images-idx3-ubyte.gz", 8)
    np.savez(tmp_path / "fm.npz", data=raw[:, None])  # the layout the Fashion-MNIST model was trained from
    npz, fm = NpzSource(tmp_path / "fm.npz"), open_source("fashion-mnist", limit=8)
    for prep in (Preprocessing(32, 1), Preprocessing(28, 1), Preprocessing(64, 3)):
        for i in range(8):
            assert np.array_equal(fm.load(i, prep), npz.load(i, prep))


def test_other_directory_and_bad_input(tmp_path):
    with pytest.raises(DataSourceError, match="no such directory"):
        open_source("fashion-mnist", tmp_path / "missing")
    with pytest.raises(DataSourceError, match="train-images-idx3-ubyte"):
        open_source("fashion-mnist", tmp_path)
    with pytest.raises(DataSourceError, match="partitions train and test"):
        open_source("fashion-mnist", partition="val")
    # a copy elsewhere, uncompressed, truncated mid-image
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (tmp_path / name).write_bytes(gzip.open(Path(FASHION_MNIST_DIR) / f"{name}.gz").read())
    full = gzip.open(Path(FASHION_MNIST_DIR) / "train-images-idx3-ubyte.gz").read(16 + 784 * 3 + 100)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(full)
    assert len(open_source("fashion-mnist", tmp_path, limit=3)) == 3
    with pytest.raises(DataSourceError, match="truncated"):
        open_source("fashion-mnist", tmp_path, limit=4)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"PK\x03\x04junk")
    with pytest.raises(DataSourceError, match="not an idx file"):
        open_source("fashion-mnist", tmp_path, limit=2)


def test_attribute_csv_maps_binary_and_categorical_columns(tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("id,smiling,style,score\ntrain-00000,yes,a,1\ntrain-00002,no,b,-1\ntrain-00001,,c,1\n")
    names, rows = read_attributes_csv(csv)
    assert names == ["smiling", "style=a", "style=b", "style=c", "score"]
    src = open_source("fashion-mnist", limit=4, attributes=csv)
    assert src.attribute_names == list(FASHION_MNIST_CLASSES) + names
    extra = src.attributes[:, 10:]
    assert extra[0].tolist() == [1, 1, -1, -1, 1]
    assert extra[1].tolist() == [0, -1, -1, 1, 1]  # empty cell: unknown
    assert extra[3].tolist() == [0, 0, 0, 0, 0]  # image not in the CSV
    lfw = open_source("lfw", limit=2, attributes=_write(tmp_path / "l.csv", "name,group\nlfw_001,1\nlfw_000,7\n"))
    assert lfw.attribute_names == ["group=1", "group=7"] and lfw.attributes.tolist() == [[-1, 1], [1, -1]]


def _write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, match", [
    ("id,x\n", "at least one data row"),
    ("id,x\na,1\na,0\n", "more than once"),
    ("id,x\na,1,2\n", "expected 2 fields"),
    ("id\na\n", "no attribute columns"),
    ("id,h\n" + "".join(f"{i},{i * 0.37}\n" for i in range(100)), "100 distinct values"),
    ("id,x\nnope,1\n", "none of its ids"),
])
def test_attribute_csv_errors_are_one_line(tmp_path, text, match):
    with pytest.raises(DataSourceError, match=match):
        open_source("fashion-mnist", limit=2, attributes=_write(tmp_path / "a.csv", text))


def test_encode_cli_takes_attributes_and_refuses_bad_csv(tmp_path, demo):
    from latentlab import open_store
    from latentlab.cli import main

    csv = _write(tmp_path / "a.csv", "id,kind\nlfw_000,x\nlfw_001,y\n")
    out = tmp_path / "z.h5"
    code = main(["encode", "--model", str(demo.model_dir), "--dataset", "lfw", "--limit", "3", "--attributes", str(csv),
                 "--out", str(out), "-q"])
    assert code == 0
    with open_store(out) as s:
        assert list(s.attribute_names) == ["kind=x", "kind=y"]
        assert np.asarray(s.attributes[:]).tolist() == [[1, -1], [-1, 1], [0, 0]]
    bad = _write(tmp_path / "b.csv", "id,kind\nlfw_000,x\nlfw_000,y\n")
    assert main(["encode", "--model", str(demo.model_dir), "--dataset", "lfw", "--attributes", str(bad),
                 "--out", str(tmp_path / "z2.h5"), "-q"]) == 2
    assert not (tmp_path / "z2.h5").exists()


def test_on_a_real_multimodal_cloud_local_ellipsoids_land_on_the_data_and_kde_copies():
    """The 64 leading PCA coordinates of 12,000 real garment images: a ten-class cloud, no model needed.

    One ellipsoid blends the garment types; the per-cluster ellipsoids land on the held-out images and stay new;
    a narrow KDE also lands there, but by copying its training points, which the novelty check shows.
    """
    from latentlab.analysis._pca import pca_of_rows
    from latentlab.metrics import knn_radii, nearest_distance, novelty, prdc
    from latentlab.regions import make_region

    X = open_source("fashion-mnist", limit=12_000).images.reshape(12_000, -1).astype(np.float64) / 255.0
    pca = pca_of_rows(X[:10_000])
    Z = (X - pca.mean_) @ pca.components_[:64].T
    fit, held = Z[:10_000], Z[10_000:]
    ref, real = held[:1500], held[1500:]
    radii, base = knn_radii(ref, 5), nearest_distance(real, fit)
    scores = {}
    for name, params in [("ellipsoid", {}), ("cluster-ellipsoid", {}), ("kde", {"bandwidth": 0.05})]:
        S = make_region(name, **params).fit(fit).sample(500, random_state=0)
        scores[name] = (prdc(ref, S, real_radii=radii), novelty(S, fit, base))
    real_prdc = prdc(ref, real, real_radii=radii)
    one, local, kde = (scores[k] for k in ("ellipsoid", "cluster-ellipsoid", "kde"))
    assert local[0].precision > one[0].precision + 0.15 and local[0].density > 2 * one[0].density
    assert local[0].precision > 0.6 * real_prdc.precision
    assert local[1].median_ratio > 0.8 and local[1].copies < 0.1
    assert kde[0].precision > 0.6 and kde[1].copies > 0.5  # on the data, but as near-copies
