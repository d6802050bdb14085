"""Fragments, halo and filaments: planted-structure recovery, local statistics, outputs."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from latentlab import LatentlabError, write_store
from latentlab.analysis._fragments_planted import filament_precision_recall
from latentlab.analysis import (
    attribute_enrichment,
    find_fragments,
    knn_graph,
    knn_recall,
    load_fragments,
    local_dimension_mle,
    make_planted_cloud,
    twonn_dimension,
)


def _scores(cloud, result):
    """ARI on the non-filament points; filament precision / recall."""
    gaussian = cloud.fragment >= 0
    ari = adjusted_rand_score(cloud.fragment[gaussian], result.fragment[gaussian])
    found, truth = result.filament >= 0, cloud.filament >= 0
    tp = np.sum(found & truth)
    precision = tp / max(found.sum(), 1)
    recall = tp / truth.sum()
    return ari, precision, recall


@pytest.mark.parametrize(
    "dim, extra",
    [
        (32, {}),
        (64, dict(filament_noise=2.0, filament_bend=2.0)),
        (128, dict(fragment_distance=1.2, n_fragments=4, fragment_size=100)),
        (256, dict(filament_noise=3.0, n_filaments=4, filament_size=120)),
    ],
)
def test_planted_structure_is_recovered(dim, extra):
    cloud = make_planted_cloud(n_bulk=2500, dim=dim, random_state=dim, **extra)
    result = find_fragments(cloud.z, k=15)
    ari, precision, recall = _scores(cloud, result)
    assert ari >= 0.9
    assert precision >= 0.9 and recall >= 0.9
    n_frag = cloud.info["n_fragments"]
    # main = the bulk; the planted fragments are the next-largest Gaussian components
    main = result.fragment[cloud.fragment == 0]
    assert np.mean(main == 0) > 0.95
    assert result.n_filaments == cloud.info["n_filaments"]
    assert result.n_fragments >= n_frag + 1
    # the planted filaments are found as separate chains
    assert adjusted_rand_score(cloud.filament, result.filament) > 0.9


@pytest.mark.parametrize("dim", [32, 256])
def test_pure_gaussian_is_one_fragment_without_filaments(dim):
    rng = np.random.default_rng(dim)
    z = rng.standard_normal((3000, dim)) * np.linspace(1.0, 0.25, dim) + 0.3
    result = find_fragments(z.astype(np.float32), k=15)
    assert result.n_fragments == 1
    assert np.mean(result.fragment == 0) > 0.95
    assert np.mean(result.filament >= 0) <= 0.01


def test_local_statistics_shapes_and_meaning():
    cloud = make_planted_cloud(n_bulk=1500, dim=32, n_fragments=1, n_filaments=2, random_state=3)
    result = find_fragments(cloud.z, k=12)
    n = len(cloud.z)
    for name in ("fragment", "filament", "filament_score", "knn_distance", "log_density", "local_dimension"):
        assert getattr(result, name).shape == (n,), name
    fil, bulk = cloud.filament >= 0, cloud.fragment == 0
    # filament points: line-like neighbourhoods, local dimension near 1
    assert np.median(result.filament_score[fil]) > 0.9 > np.median(result.filament_score[bulk])
    assert np.median(result.local_dimension[fil]) < 2.0 < np.median(result.local_dimension[bulk])
    # the tight fragment is denser than the bulk
    frag = cloud.fragment == 1
    assert np.median(result.log_density[frag]) > np.median(result.log_density[bulk])
    assert np.median(result.knn_distance[frag]) < np.median(result.knn_distance[bulk])
    # tables
    assert [f["id"] for f in result.fragments] == list(range(result.n_fragments))
    assert result.fragments[0]["size"] == max(f["size"] for f in result.fragments)
    assert all(f["gap_to_main"] > 0 for f in result.fragments[1:])
    for f in result.filaments:
        assert len(f["direction"]) == 32
        assert abs(np.linalg.norm(f["direction"]) - 1) < 1e-5
        assert f["path_length"] >= f["length"] * 0.9 > 0


def test_intrinsic_dimension_estimators():
    rng = np.random.default_rng(0)
    x = np.zeros((3000, 20))
    x[:, :5] = rng.standard_normal((3000, 5))  # a 5-d Gaussian embedded in 20-d
    _, dist, how = knn_graph(x, k=20)
    assert how == "exact"
    assert 4.0 < twonn_dimension(dist) < 6.0
    assert 4.0 < np.median(local_dimension_mle(dist)) < 6.0


def test_exact_knn_matches_brute_force_and_approximate_recall():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((600, 8)).astype(np.float32)
    ind, dist, _ = knn_graph(x, k=6, method="exact")
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    ref = np.argsort(d2, axis=1)[:, :6]
    assert np.mean(np.sort(ind, 1) == np.sort(ref, 1)) > 0.999
    assert np.allclose(dist, np.sqrt(np.sort(d2, 1)[:, :6]), atol=1e-4)
    assert not np.any(ind == np.arange(600)[:, None])
    ind_a, _, how = knn_graph(x, k=6, method="approximate")
    assert how == "approximate"
    assert not np.any(ind_a == np.arange(600)[:, None])
    assert knn_recall(x, ind_a, n_queries=100) > 0.9
    # the NN-descent effort is tunable (neighbours searched, candidates per iteration)
    ind_b, dist_b, _ = knn_graph(x, k=6, method="approximate", n_build=12, max_candidates=8)
    assert ind_b.shape == (600, 6) and np.all(np.diff(dist_b, axis=1) >= 0)
    assert knn_recall(x, ind_b, n_queries=100) > 0.8
    # keeping every neighbour searched: all of them real (the point itself is never the last one)
    ind_c, dist_c, _ = knn_graph(x, k=12, method="approximate", n_build=12, max_candidates=8)
    assert not np.any(ind_c == np.arange(600)[:, None]) and np.all(dist_c[:, -1] > 0)
    assert all(len(set(row)) == 12 for row in ind_c)


def test_cosine_metric_and_small_n():
    cloud = make_planted_cloud(n_bulk=1500, dim=48, n_fragments=2, n_filaments=0, random_state=5)
    z = cloud.z + 20.0 / np.sqrt(48)  # off-centre so that directions differ
    res = find_fragments(z, k=15, metric="cosine")
    assert res.parameters["metric"] == "cosine"
    assert np.all(res.knn_distance >= 0) and np.all(res.knn_distance <= 2)
    # a tiny store (the demo has 100 points) degrades gracefully
    small = find_fragments(np.random.default_rng(0).standard_normal((30, 16)), k=50)
    assert small.parameters["k"] == 29
    assert small.parameters["min_fragment_size"] == 5
    assert small.fragment.shape == (30,)


def test_bad_input_raises_user_errors(tmp_path):
    with pytest.raises(LatentlabError, match="metric"):
        find_fragments(np.zeros((10, 3)), metric="manhattan")
    with pytest.raises(LatentlabError, match="pca_variance"):
        find_fragments(np.zeros((10, 3)), pca_variance=1.5)
    z = np.random.default_rng(0).standard_normal((20, 3))
    z[3, 1] = np.nan
    with pytest.raises(LatentlabError, match="NaN"):
        find_fragments(z)
    with pytest.raises(LatentlabError, match="no such file"):
        find_fragments(tmp_path / "missing.h5")


def test_attribute_enrichment_finds_planted_attribute():
    rng = np.random.default_rng(0)
    n = 1000
    attrs = np.where(rng.random((n, 3)) < 0.3, 1, -1)
    group = np.zeros(n, bool)
    group[:80] = True
    attrs[:80, 1] = 1  # attribute 1 always present in the group
    attrs[:80, 2] = -1  # attribute 2 never
    res = attribute_enrichment(attrs, {"g": group, "rest": ~group}, ["a", "b", "c"])
    rows = {r["attribute"]: r for r in res["groups"][0]["rows"]}
    assert rows["b"]["significant"] and rows["b"]["log2_fold"] > 1
    assert rows["c"]["significant"] and rows["c"]["log2_fold"] < -1
    assert not rows["a"]["significant"]
    assert 0 <= rows["a"]["q_value"] <= 1 and rows["a"]["q_value"] >= rows["a"]["p_value"]


def _planted_store(tmp_path, **kw):
    cloud = make_planted_cloud(n_bulk=1500, dim=32, random_state=7, **kw)
    rng = np.random.default_rng(0)
    attrs = np.where(rng.random((len(cloud.z), 4)) < 0.4, 1, -1).astype(np.int8)
    attrs[cloud.fragment == 1, 0] = 1
    partition = rng.integers(0, 3, len(cloud.z)).astype(np.int8)
    path = tmp_path / "z.h5"
    write_store(path, cloud.z, partition=partition, attributes=attrs,
                attribute_names=["Smiling", "Male", "Young", "Bald"])
    return path, cloud


def test_store_input_save_and_load(tmp_path):
    path, cloud = _planted_store(tmp_path)
    result = find_fragments(path, k=15)
    assert result.enrichment is not None
    groups = {g["group"]: g for g in result.enrichment["groups"]}
    assert "main fragment" in groups and "filament 0" in groups
    h5_path, json_path = result.save(tmp_path / "out")
    with h5py.File(h5_path, "r") as f:
        assert f["fragment"].dtype == np.int32 and f["fragment"].shape == (len(cloud.z),)
        assert f["filament"].dtype == np.int32
        for name in ("filament_score", "knn_distance", "local_dimension"):
            assert f[name].dtype == np.float32 and f[name].shape == (len(cloud.z),)
    info = json.loads(json_path.read_text())
    assert info["n_fragments"] == result.n_fragments
    assert info["fragment_sizes"] == [f["size"] for f in result.fragments]
    assert info["parameters"]["k"] == 15
    back = load_fragments(tmp_path / "out")
    assert np.array_equal(back.fragment, result.fragment)
    assert back.filaments[0]["size"] == result.filaments[0]["size"]
    # a partition: arrays cover its rows, /index maps them back
    part = find_fragments(path, k=15, partition="train")
    with h5py.File(path) as f:
        train = np.flatnonzero(f["partition"][:] == 0)
    assert np.array_equal(part.index, train)
    assert part.fragment.shape == train.shape


def test_cli_fragments_writes_outputs(tmp_path, capsys):
    from latentlab.cli import main

    path, cloud = _planted_store(tmp_path)
    out = tmp_path / "frag"
    rc = main(["fragments", str(path), "--out", str(out), "--k", "12", "--min-fragment-size", "20",
               "--pca-variance", "0.99"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "fragments:" in text and "filaments: 3" in text
    for name in ("fragments.h5", "fragments.json", "fragments.html", "fragments_pc12.png",
                 "fragments_pc_grid.png", "filaments_pc12.png", "knn_distance_hist.png",
                 "local_dimension_hist.png"):
        assert (out / name).exists(), name
    info = json.loads((out / "fragments.json").read_text())
    assert info["parameters"]["k"] == 12 and info["parameters"]["min_fragment_size"] == 20
    assert info["n_filaments"] == 3
    with h5py.File(out / "fragments.h5") as f:
        labels = f["fragment"][:]
    gaussian = cloud.fragment >= 0
    assert adjusted_rand_score(cloud.fragment[gaussian], labels[gaussian]) >= 0.9


def test_cli_fragments_bad_input(tmp_path, capsys):
    from latentlab.cli import main

    rc = main(["fragments", str(tmp_path / "nope.h5"), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "error:" in capsys.readouterr().err
    path, _ = _planted_store(tmp_path)
    rc = main(["fragments", str(path), "--out", str(tmp_path / "o"), "--metric", "l1"])
    assert rc == 2
    assert "metric" in capsys.readouterr().err


def test_report_section_builds_and_reuses(tmp_path):
    from latentlab.analysis._fragment_section import fragments_section
    from latentlab.report import ReportContext

    path, _ = _planted_store(tmp_path)
    ctx = ReportContext(store_path=path, out_dir=tmp_path / "rep", quick=True)
    ctx.out_dir.mkdir()
    section = fragments_section(ctx)
    assert "Fragments" in section.title
    assert section.body.count("<img") == 7  # six figures + the density hierarchy
    assert (ctx.out_dir / "fragments.h5").exists()
    mtime = (ctx.out_dir / "fragments.h5").stat().st_mtime
    again = fragments_section(ctx)
    assert (ctx.out_dir / "fragments.h5").stat().st_mtime == mtime
    assert again.data["n_fragments"] == section.data["n_fragments"]


# --------------------------------------------------------------------------- structure at every scale
@pytest.mark.parametrize(
    "dim, noise, bend, attached",
    [
        (32, 0.1, 0.0, False),
        (64, 1.0, 2.0, True),
        (128, 3.0, 2.0, False),
        (256, 10.0, 0.0, True),
        (32, 10.0, 2.0, False),
        (256, 0.3, 2.0, True),
    ],
)
def test_filaments_found_at_every_tube_width(dim, noise, bend, attached):
    # tube radius 0.1x-10x the along-curve spacing, always below a quarter of the filament's length
    cloud = make_planted_cloud(n_bulk=1500, dim=dim, n_fragments=1, n_filaments=3, filament_noise=noise,
                               filament_bend=bend, filament_attached=attached, random_state=dim + int(10 * noise))
    info = cloud.info
    assert info["filament_tube_radius"] < info["filament_length"] / 4
    result = find_fragments(cloud.z, k=15, hierarchy=False)
    for precision, recall in filament_precision_recall(cloud.filament, result.filament):
        assert precision >= 0.8 and recall >= 0.8, (precision, recall)
    # each filament reports its tube radius (within 30 % of the planted one) and its scale
    for row in result.filaments:
        assert 0.7 < row["tube_radius"] / info["filament_tube_radius"] < 1.3
        assert row["scale_k"] in result.parameters["filament_k"]
    if noise >= 10:  # too wide for k = 15: found at a larger scale
        assert all(row["scale_k"] > 15 for row in result.filaments)


def test_single_scale_misses_wide_filaments():
    cloud = make_planted_cloud(n_bulk=1500, dim=32, n_fragments=1, n_filaments=2, filament_noise=10.0,
                               random_state=5)
    single = find_fragments(cloud.z, k=15, filament_scales=1, hierarchy=False)
    assert np.mean(single.filament[cloud.filament >= 0] >= 0) < 0.2


@pytest.mark.parametrize("dim", [32, 256])
def test_null_gaussian_has_no_filaments_at_any_scale(dim):
    from latentlab.analysis._fragments import _components, _line_fit, _pca_reduce
    from latentlab.analysis._neighbours import rank_components as _rank_components

    rng = np.random.default_rng(dim + 1)
    z = (rng.standard_normal((3000, dim)) * np.linspace(1.0, 0.25, dim) + 0.3).astype(np.float32)
    # (the best score over scales is checked by test_pure_gaussian_is_one_fragment_without_filaments)
    y = _pca_reduce(z, 0.99)[0]
    ind, _, _ = knn_graph(y, 45, method="exact")
    for k in (15, 30, 45):
        score, _ = _line_fit(y, ind[:, :k])
        chains = _rank_components(_components(score >= 0.8, ind[:, :15]), 15)
        assert np.mean(chains >= 0) <= 0.01, k


def test_density_hierarchy_separates_planted_parts_and_cuts_at_level():
    cloud = make_planted_cloud(n_bulk=1500, dim=32, n_fragments=3, n_filaments=0, random_state=11)
    result = find_fragments(cloud.z, k=15)
    tree = result.hierarchy
    # HDBSCAN's own tree (scikit-learn's, see test_numerics_peers.py) calls the bulk's sparsest points noise:
    # the planted parts are recovered exactly on the labelled points, and the bulk keeps 90 % of its points
    labelled = result.cluster >= 0
    assert adjusted_rand_score(cloud.fragment[labelled], result.cluster[labelled]) > 0.99
    assert tree["n_selected"] == 4 and sorted(tree["label_sizes"])[:3] == [150, 150, 150]
    assert 0.9 * 1500 <= sorted(tree["label_sizes"])[3] <= 1500
    nodes = tree["nodes"]
    assert nodes[0]["parent"] == -1 and nodes[0]["size"] == len(cloud.z)
    for nd in nodes[1:]:
        assert nd["size"] >= tree["min_cluster_size"]
        assert nd["birth_level"] >= nd["death_level"]  # a component appears before it splits or fades
    # a cut at a high density level keeps only the densest points, in more than one part
    cut = find_fragments(cloud.z, k=15, level=0.2).hierarchy
    assert cut["cut"]["level"] == 0.2 and cut["n_labelled"] <= 0.2 * len(cloud.z) + 1
    with pytest.raises(LatentlabError, match="level"):
        find_fragments(cloud.z, level=1.5)
    with pytest.raises(LatentlabError, match="filament_scales"):
        find_fragments(cloud.z, filament_scales=0)


def _one_hot_store(tmp_path):
    """Planted parts with one-hot class attributes (the Fashion-MNIST layout): class = planted part."""
    cloud = make_planted_cloud(n_bulk=1200, dim=32, n_fragments=2, n_filaments=1, random_state=9)
    part = np.where(cloud.fragment >= 0, cloud.fragment, 3)
    attrs = -np.ones((len(cloud.z), 4), np.int8)
    attrs[np.arange(len(cloud.z)), part] = 1
    path = tmp_path / "classes.h5"
    write_store(path, cloud.z, attributes=attrs, attribute_names=["bulk", "blob A", "blob B", "arc"])
    return path, cloud, part


def test_labels_composition_and_agreement(tmp_path):
    path, cloud, part = _one_hot_store(tmp_path)
    result = find_fragments(path, k=15)
    lab = result.labels
    assert lab["name"] == "class" and lab["names"] == ["bulk", "blob A", "blob B", "arc"]
    assert lab["fragments"]["purity"] > 0.95 and lab["fragments"]["adjusted_rand_index"] > 0.9
    assert lab["hierarchy"]["purity"] > 0.9 and lab["hierarchy"]["adjusted_rand_index"] > 0.5
    assert result.fragments[0]["composition"][0]["label"] == "bulk"
    assert result.filaments[0]["composition"][0] == {"label": "arc", "count": 150, "fraction": 1.0}
    assert any(nd.get("composition") for nd in result.hierarchy["nodes"])
    binary = find_fragments(path, k=15, label="arc", hierarchy=False)
    assert binary.labels["names"] == ["not arc", "arc"] and binary.labels["filaments"]["purity"] == 1.0
    with pytest.raises(LatentlabError, match="no attribute"):
        find_fragments(path, label="Smiling")


def test_cli_structure_options_and_figures(tmp_path, capsys):
    from latentlab.analysis._fragment_section import write_fragment_figures
    from latentlab.cli import main

    path, _, _ = _one_hot_store(tmp_path)
    out = tmp_path / "s"
    rc = main(["fragments", str(path), "--out", str(out), "--level", "0.5", "--filament-scales", "2",
               "--min-cluster-size", "40", "--label", "class", "--no-figures"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "hierarchy:" in text and "label 'class'" in text
    info = json.loads((out / "fragments.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert info["parameters"]["filament_k"] == [15, 30] and info["hierarchy"]["cut"]["level"] == 0.5
    assert info["hierarchy"]["min_cluster_size"] == 40 and "adjusted_rand_index" in info["labels"]["fragments"]
    back = load_fragments(out)
    assert back.cluster is not None and back.filament_scale is not None and back.label_values is not None
    names = [p.name for p, _ in write_fragment_figures(back, tmp_path / "fig")]
    assert "density_hierarchy.png" in names and "label_pc12.png" in names
    for bad, word in ((["--level", "0"], "level"), (["--filament-scales", "9"], "filament_scales"),
                      (["--label", "Smiling"], "label"), (["--min-cluster-size", "1"], "min_cluster_size")):
        rc = main(["fragments", str(path), "--out", str(tmp_path / "bad"), *bad])
        err = capsys.readouterr().err
        assert rc == 2 and word in err and err.count("\n") == 1, err
        assert not (tmp_path / "bad").exists()
