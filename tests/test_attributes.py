"""Attributes in latent space on real labelled data (Fashion-MNIST's 10 classes as one-hot ±1 attributes).

Expected values are computed independently: numpy class means, scikit-learn's ``roc_auc_score`` and PCA,
brute-force nearest neighbours (scipy), the store's labels read with h5py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from latentlab import LatentlabError, write_store
from latentlab.sources import FASHION_MNIST_DIR

pytestmark = pytest.mark.skipif(not Path(FASHION_MNIST_DIR).is_dir(), reason="apt-get install dataset-fashion-mnist")

TROUSER, BAG, TSHIRT = 1, 8, 0


def _fm(partition: str, n: int):
    from latentlab.sources import open_source

    return open_source("fashion-mnist", partition=partition, limit=n)


@pytest.fixture(scope="module")
def fm_store(tmp_path_factory):
    """2,000 training + 1,000 test Fashion-MNIST images, z = a seeded random projection of the pixels to 64-d."""
    train, test = _fm("train", 2000), _fm("test", 1000)
    pixels = np.concatenate([np.asarray(s.images, np.float32).reshape(len(s), -1) / 255 for s in (train, test)])
    z = pixels @ np.random.default_rng(0).normal(size=(pixels.shape[1], 64)) / 28
    path = tmp_path_factory.mktemp("fm") / "fm.h5"
    write_store(path, z, ids=[*train.ids, *test.ids], partition=np.concatenate([train.partition, test.partition]),
                attributes=np.concatenate([train.attributes, test.attributes]), attribute_names=train.attribute_names)
    with h5py.File(path) as f:  # what is on disk, read without latentlab
        zz, labels = f["z"][:].astype(np.float64), f["attributes"][:]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["attributes"].attrs["names"]]
    return path, zz, labels, names


def test_directions_are_class_mean_differences_with_probes_that_find_the_classes(fm_store, tmp_path):
    from sklearn.decomposition import PCA
    from sklearn.metrics import roc_auc_score

    from latentlab.analysis import directions, rank_auc

    path, z, labels, names = fm_store
    res = directions(path, n_boot=100, chunk_rows=128)  # streamed in small blocks
    assert res.names == names
    for a in range(len(names)):
        pos, neg = z[labels[:, a] > 0], z[labels[:, a] < 0]
        d = pos.mean(axis=0) - neg.mean(axis=0)
        np.testing.assert_allclose(res.directions[a], d, atol=1e-6)
        assert res.n_positive[a] == len(pos) and res.n_negative[a] == len(neg)
        spread = np.std(z @ (d / np.linalg.norm(d)), ddof=1)
        np.testing.assert_allclose(res.length_in_sd[a], np.linalg.norm(d) / spread, rtol=1e-6)
    unit = res.directions / np.linalg.norm(res.directions, axis=1, keepdims=True)
    np.testing.assert_allclose(res.cosines, unit @ unit.T, atol=1e-9)
    pcs = PCA(n_components=10).fit(z).components_
    np.testing.assert_allclose(np.abs(res.pc_cosines), np.abs(unit @ pcs.T), atol=1e-5)
    # the linear probe reads the distinct classes almost perfectly, with an interval around its AUC
    for cls in ("Trouser", "Sandal", "Sneaker", "Bag", "Ankle boot"):
        a = names.index(cls)
        assert res.auc[a] > 0.95, (cls, res.auc[a])
        assert res.auc_low[a] <= res.auc[a] <= res.auc_high[a]
    assert np.median(res.auc) > 0.95
    # the probe's normal points the same way as the class mean difference
    assert (res.probe_cosine > 0.3).all()
    # the rank AUC equals scikit-learn's, ties included
    rng = np.random.default_rng(1)
    y, s = rng.integers(0, 2, 300), rng.integers(0, 7, 300).astype(float)
    assert rank_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    # files: strict JSON and the npz arrays named in the issue
    res.save(tmp_path)
    doc = json.loads((tmp_path / "directions.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert [a["name"] for a in doc["attributes"]] == names
    with np.load(tmp_path / "directions.npz") as npz:
        assert npz["names"].tolist() == names and npz["directions"].shape == (10, 64)
        np.testing.assert_allclose(npz["probe_normals"], res.probe_normals)


def test_directions_of_chosen_attributes_and_errors(fm_store, tmp_path, capsys):
    from latentlab.analysis import directions
    from latentlab.cli import main

    path, z, labels, names = fm_store
    res = directions(path, attributes="Bag,Trouser", probe=False)
    assert res.names == ["Bag", "Trouser"] and np.isnan(res.auc).all()
    out = tmp_path / "dirs"
    assert main(["directions", str(path), "--out", str(out), "--attributes", "Bag,Trouser", "--n-boot", "20"]) == 0
    assert {p.name for p in out.iterdir()} >= {"directions.json", "directions.npz", "directions_auc.png",
                                                "directions_cosines.png", "directions_pc_plane.png"}
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert main(["directions", str(path), "--out", str(bad), "--attributes", "Nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and "Nope" in err
    assert not bad.exists()


def test_where_selects_exactly_the_rows_asked_for(fm_store, tmp_path, capsys):
    from latentlab.cli import main
    from latentlab.regions import fit_region, region_file_info
    from latentlab.regions._where import where_rows
    from latentlab.store import open_store

    path, z, labels, names = fm_store
    with open_store(path) as s:
        assert where_rows(s, {"label": "Bag"}).tolist() == np.flatnonzero(labels[:, BAG] == 1).tolist()
        assert where_rows(s, ["Bag=-1", "Trouser=no"]).tolist() == np.flatnonzero(
            (labels[:, BAG] == -1) & (labels[:, TROUSER] == -1)).tolist()
    region = fit_region("mnd", path, "train", where={"label": "Bag"})
    train_bags = np.flatnonzero((labels[:, BAG] == 1) & (np.arange(len(z)) < 2000))
    assert region.n_fit_ == len(train_bags)
    np.testing.assert_allclose(region.mean_, z[train_bags].mean(axis=0), atol=1e-5)
    assert region.fit_store_["where"] == {"label": "Bag"}
    out = tmp_path / "bags.region"
    assert main(["fit-region", "--z", str(path), "--out", str(out), "--region", "mnd", "--where", "Bag=1"]) == 0
    assert region_file_info(out)["store"]["where"] == {"Bag": "1"}
    assert zipfile.is_zipfile(out)
    capsys.readouterr()
    for where in (["Nope=1"], ["label=Nope"], ["Bag=1", "Trouser=1"], ["Bag=maybe"], ["Bag"]):
        target = tmp_path / "never.region"
        args = ["fit-region", "--z", str(path), "--out", str(target), "--region", "mnd"]
        for w in where:
            args += ["--where", w]
        assert main(args) == 2, where
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and len(err.splitlines()) == 1 and "--where" in err, err
        assert not target.exists()


def test_label_coverage_matches_brute_force_neighbours():
    from scipy.spatial.distance import cdist

    from latentlab.metrics._labels import label_context, label_coverage

    rng = np.random.default_rng(4)
    Zfit = rng.normal(size=(300, 5))
    cls = rng.integers(0, 3, 300)
    Zfit[:, 0] += 4 * cls
    onehot = np.where(np.eye(3, dtype=bool)[cls], 1, -1).astype(np.int8)
    S = rng.normal(size=(80, 5))
    S[:, 0] += 4 * rng.choice([0, 0, 2], 80)
    cov = label_coverage(S, label_context(["a", "b", "c"], Zfit, onehot, k=5))
    nearest = np.argsort(cdist(S, Zfit), axis=1)[:, :5]
    majority = np.array([np.bincount(cls[row], minlength=3).argmax() for row in nearest])
    shares = np.bincount(majority, minlength=3) / len(S)
    fit_shares = np.bincount(cls, minlength=3) / len(cls)
    assert cov["label_tv"] == pytest.approx(0.5 * np.abs(shares - fit_shares).sum())
    assert list(cov["label_shares"].values()) == pytest.approx(shares.tolist())


def test_binary_attributes_get_a_rate_per_attribute_against_brute_force():
    from scipy.spatial.distance import cdist

    from latentlab.metrics._labels import label_context, label_coverage

    rng = np.random.default_rng(6)
    Zfit = rng.normal(size=(400, 4))
    attrs = np.where(Zfit[:, :2] > 0, 1, -1).astype(np.int8)  # two independent binary attributes
    attrs[:20, 1] = 0  # unknown: no vote, left out of the fit rate
    S = rng.normal(size=(120, 4)) + [1.0, 0.0, 0.0, 0.0]
    ctx = label_context(["A", "B"], Zfit, attrs, k=7)
    assert not ctx.one_hot
    cov = label_coverage(S, ctx)
    nearest = np.argsort(cdist(S, Zfit), axis=1)[:, :7]
    rates = np.array([[attrs[row, j].sum() > 0 for j in range(2)] for row in nearest]).mean(axis=0)
    fit = np.array([(attrs[:, j] == 1).sum() / (attrs[:, j] != 0).sum() for j in range(2)])
    assert list(cov["label_shares"].values()) == pytest.approx(rates.tolist())
    assert cov["label_tv"] == pytest.approx(np.abs(rates - fit).mean())
    assert rates[0] > fit[0] + 0.15  # samples shifted along attribute A's axis carry it more often


def test_one_class_region_has_a_large_label_tv_and_local_ellipsoids_sit_near_the_floor(fm_store, tmp_path):
    from latentlab.metrics import compare_samplers
    from latentlab.metrics._compare import HELDOUT_ROW
    from latentlab.regions import fit_region, save_region

    path, z, labels, names = fm_store
    trousers = tmp_path / "trousers.region"
    save_region(fit_region("mnd", path, "train", where={"label": "Trouser"}), trousers)
    res = compare_samplers(path, tmp_path / "cmp", regions=["cluster-ellipsoid"], region_files=[trousers], n=300,
                           n_boot=0, use_model=False, params={"cluster-ellipsoid": {"cluster_size": 40}})
    tv = {r["sampler"]: r["label_tv"] for r in res.rows}
    fit_share = (labels[:2000, TROUSER] == 1).mean()
    ceiling = 1 - fit_share  # every sample a trouser
    one_class = next(k for k in tv if k not in (HELDOUT_ROW, "cluster-ellipsoid"))
    assert tv[one_class] > ceiling - 0.1, tv
    assert tv["cluster-ellipsoid"] < tv[HELDOUT_ROW] + 0.1, tv
    assert tv[HELDOUT_ROW] < 0.15, tv
    doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert doc["labels"]["kind"] == "one-hot" and doc["labels"]["names"] == names
    assert "label_tv" in (tmp_path / "cmp" / "compare.csv").read_text().splitlines()[0]
    # --where on compare-samplers: fit and held-out rows are bags only
    bags = compare_samplers(path, None, regions=["mnd"], n=50, n_boot=0, use_model=False, where=["label=Bag"],
                            min_reference=20)
    assert bags.settings["n_fit"] == int((labels[:2000, BAG] == 1).sum())
    assert bags.settings["n_heldout"] == int((labels[2000:, BAG] == 1).sum())
    # too few held-out bags for a reference: the reference is every bag, never the other classes
    few = compare_samplers(path, None, regions=["mnd"], n=50, n_boot=0, use_model=False, where=["label=Bag"],
                           min_reference=10_000)
    assert few.settings["n_reference"] == int((labels[:, BAG] == 1).sum())


# -- editing with a tiny model trained here ----------------------------------------------------------
@pytest.fixture(scope="module")
def fm_model(tmp_path_factory):
    """A 16×16 grey autoencoder (z_dim 16) trained 4 epochs on 3,000 Fashion-MNIST images, and their store."""
    from latentlab.encoding import encode
    from latentlab.model import train

    root = tmp_path_factory.mktemp("fm_model")
    src = _fm("all", 3000)
    train(source=src, out=root / "model", image_size=16, channels=1, z_dim=16, filters=(8, 16, 16, 16), epochs=4,
          batch_size=32, verbose=0, partition="all")
    encode(root / "model", source=src, out=root / "z.h5")
    return root / "model", root / "z.h5", src


def test_edit_toward_trouser_moves_the_stores_own_vote_toward_trouser(fm_model, tmp_path):
    from sklearn.neighbors import KNeighborsClassifier

    from latentlab.editing import edit_images
    from latentlab.generate import load_model
    from latentlab.sources import Preprocessing
    from latentlab.store import open_store

    model, store, src = fm_model
    with open_store(store) as s:
        z = s.read_z(dtype=np.float64)
        ids = [str(i) for i in s.read_ids()]
        cls = np.asarray(s.attributes[:]).argmax(axis=1)
    knn = KNeighborsClassifier(n_neighbors=15).fit(z, cls)  # the store's own k-NN classifier
    shirts = [ids[i] for i in np.flatnonzero(cls == TSHIRT)[:30]]
    ae = load_model(model)
    res = edit_images(store, shirts, "Trouser", [0.0, 1.0], autoencoder=ae)
    assert res.images.shape[0] == 2 * len(shirts)
    np.testing.assert_allclose(res.z[0::2], z[[ids.index(i) for i in shirts]], atol=1e-6)
    d = z[cls == TROUSER].mean(axis=0) - z[cls != TROUSER].mean(axis=0)
    np.testing.assert_allclose(res.z[1::2] - res.z[0::2], np.tile(d, (len(shirts), 1)), atol=1e-4)
    # the store's own 15-NN classifier votes the edited points trousers more often than the originals
    vote = knn.predict(res.z)
    gain = (vote[1::2] == TROUSER).mean() - (vote[0::2] == TROUSER).mean()
    assert gain >= 0.1, gain
    # and the decoded edits look more like real trousers: nearer the mean real trouser image (pixels, not the model)
    prep = Preprocessing(16, 1)
    trouser_mean = np.mean([src.load(i, prep) for i in np.flatnonzero(cls == TROUSER)], axis=0) / 255.0
    dist = np.sqrt(((res.images - trouser_mean) ** 2).sum(axis=(1, 2, 3)))
    assert (dist[1::2] < dist[0::2]).mean() >= 0.8


def test_edit_cli_writes_a_strip_and_refuses_bad_input_before_tensorflow(fm_model, tmp_path, capsys):
    from latentlab.cli import main
    from latentlab.store import open_store

    model, store, _ = fm_model
    with open_store(store) as s:
        first = s.read_ids()[:2]
    out = tmp_path / "strip.png"
    args = ["edit", str(store), "--model", str(model), "--id", first[0], "--id", first[1], "--attribute", "Bag",
            "--strengths", "0,1", "--out", str(out), "--save-images", str(tmp_path / "imgs")]
    assert main(args) == 0
    assert out.stat().st_size > 1000 and len(list((tmp_path / "imgs").glob("edit_*.png"))) == 4
    meta = json.loads((tmp_path / "imgs" / "edit.json").read_text())
    assert [(f["id"], f["strength"]) for f in meta["files"]] == [(first[0], 0.0), (first[0], 1.0), (first[1], 0.0),
                                                                (first[1], 1.0)]
    before = out.read_bytes()
    capsys.readouterr()
    assert main(args) == 2  # never replaced without --overwrite
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == before
    assert main([*args, "--overwrite"]) == 0
    for bad in (["--attribute", "Nope"], ["--strengths", "0,nan"], ["--strengths", "a"], ["--id", "no-such-id"],
                ["--method", "median"]):
        new = list(args[:-4])  # without --out / --save-images
        for flag, value in zip(bad[0::2], bad[1::2]):
            if flag in new and flag != "--id":
                new[new.index(flag) + 1] = value
            else:
                new += [flag, value]
        target = tmp_path / "never.png"
        code = ("import sys; from latentlab.cli import main; "
                f"rc = main({[*new, '--out', str(target)]!r}); "
                "print(rc, 'tensorflow' in sys.modules)")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        assert proc.stdout.split() == ["2", "False"], (bad, proc.stdout, proc.stderr[-500:])
        err = proc.stderr.strip()
        assert err.startswith("error:") and len(err.splitlines()) == 1, err
        assert not target.exists()


def test_path_along_an_attribute_and_sample_on_a_condition(fm_model, tmp_path):
    from latentlab.generate import load_model, path_images, sample_images
    from latentlab.store import open_store

    model, store, _ = fm_model
    ae = load_model(model)
    line = path_images(store, attribute="Trouser", steps=5, extent=1.0, partition="all", autoencoder=ae)
    with open_store(store) as s:
        z = s.read_z(dtype=np.float64)
        lab = np.asarray(s.attributes[:])[:, TROUSER]
    d = z[lab > 0].mean(axis=0) - z[lab < 0].mean(axis=0)
    np.testing.assert_allclose(line.z[-1] - line.z[0], 2 * d, atol=1e-4)
    np.testing.assert_allclose(line.z[2], z.mean(axis=0), atol=1e-4)
    bags = sample_images(store, "mnd", n=8, where={"label": "Bag"}, autoencoder=ae)
    assert bags.info["where"] == {"label": "Bag"}
    with pytest.raises(LatentlabError, match="--where"):
        sample_images(store, "mnd", n=8, where={"Nope": "1"}, autoencoder=ae)
