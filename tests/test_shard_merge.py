"""Sharded encode (`latentlab encode --shard I/N`) + `latentlab merge` == one single-process encode."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from latentlab import open_store
from latentlab.cli import main
from latentlab.encoding import parse_shard, shard_range
from latentlab.store import merge_stores


@pytest.fixture(scope="module")
def damaged_celeba(celeba_dir, tmp_path_factory):
    """The CelebA fixture with two undecodable images (one early, one late) so /skipped is exercised."""
    root = tmp_path_factory.mktemp("celeba_damaged") / "celeba"
    shutil.copytree(celeba_dir, root)
    (root / "img_align_celeba" / "000007.jpg").write_bytes(b"not a jpeg at all")
    data = (root / "img_align_celeba" / "000071.jpg").read_bytes()
    (root / "img_align_celeba" / "000071.jpg").write_bytes(data[: len(data) // 3])
    return root


@pytest.fixture(scope="module")
def single_and_parts(rgb_model, damaged_celeba, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    common = ["--model", str(rgb_model), "--data", str(damaged_celeba), "--batch-size", "16", "-q"]
    assert main(["encode", *common, "--out", str(out / "single.h5")]) == 0
    for i in range(3):
        assert main(["encode", *common, "--shard", f"{i}/3", "--out", str(out / f"part{i}.h5")]) == 0
    return out


def _contents(path):
    with open_store(path) as s:
        return {
            "ids": list(s.read_ids()), "z": s.read_z(), "partition": s.partition[:],
            "attributes": s.attributes[:], "names": s.attribute_names, "skipped": s.skipped(),
            "attrs": dict(s.attrs),
        }


def test_shard_ranges_cover_the_rows_once():
    for n in (0, 1, 7, 100, 101):
        for count in (1, 2, 3, 8):
            ranges = [shard_range(n, i, count) for i in range(count)]
            assert ranges[0][0] == 0 and ranges[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
            sizes = [b - a for a, b in ranges]
            assert max(sizes) - min(sizes) <= 1
    assert parse_shard("2/5") == (2, 5) and parse_shard((0, 1)) == (0, 1)


def test_parts_are_contiguous_blocks_with_their_spec(single_and_parts):
    whole = _contents(single_and_parts / "single.h5")
    starts = []
    for i in range(3):
        with open_store(single_and_parts / f"part{i}.h5") as s:
            a = s.attrs
            assert (a["shard_index"], a["shard_count"], a["source_rows"]) == (i, 3, 100)
            starts.append((a["shard_start"], a["shard_stop"]))
    assert starts == [(0, 33), (33, 66), (66, 100)]
    with open_store(single_and_parts / "part0.h5") as s:
        assert s.read_ids()[0] == "000001.jpg" and [p for p, _ in s.skipped()] == ["000007.jpg"]
    with open_store(single_and_parts / "part2.h5") as s:
        assert s.read_ids()[-1] == "000100.jpg" and [p for p, _ in s.skipped()] == ["000071.jpg"]
    assert [p for p, _ in whole["skipped"]] == ["000007.jpg", "000071.jpg"]


def test_merge_equals_single_process_encode(single_and_parts, capsys):
    d = single_and_parts
    # parts given out of order: merge sorts them by shard index
    rc = main(["merge", str(d / "part2.h5"), str(d / "part0.h5"), str(d / "part1.h5"), "--out", str(d / "merged.h5")])
    assert rc == 0
    assert "98 rows from 3 part(s), 2 skipped" in capsys.readouterr().out
    single, merged = _contents(d / "single.h5"), _contents(d / "merged.h5")
    assert merged["ids"] == single["ids"] and len(single["ids"]) == 98
    np.testing.assert_array_equal(merged["partition"], single["partition"])
    np.testing.assert_array_equal(merged["attributes"], single["attributes"])
    assert merged["names"] == single["names"]
    assert merged["skipped"] == single["skipped"]
    # same model, same pixels; only the batch split differs
    np.testing.assert_allclose(merged["z"], single["z"], rtol=1e-5, atol=1e-6)
    for key in ("z_dim", "model_sha256", "source", "dataset", "image_size", "channels", "crop", "complete", "n"):
        assert merged["attrs"][key] == single["attrs"][key], key
    assert not any(k.startswith("shard_") for k in merged["attrs"])
    with h5py.File(d / "merged.h5", "r") as f:  # a plain, self-contained HDF5 file
        assert not f["z"].is_virtual and f["z"].compression == "gzip"


def test_merge_refuses_bad_part_sets(single_and_parts, rgb_model, damaged_celeba, tmp_path, capsys):
    d = single_and_parts
    parts = [d / f"part{i}.h5" for i in range(3)]
    with pytest.raises(Exception, match=r"shard\(s\) 1/3 missing"):
        merge_stores([parts[0], parts[2]], tmp_path / "m.h5")
    with pytest.raises(Exception, match="given twice"):
        merge_stores([parts[0], parts[1], parts[1], parts[2]], tmp_path / "m.h5")
    with pytest.raises(Exception, match="not a shard part"):
        merge_stores([*parts, d / "single.h5"], tmp_path / "m.h5")
    # a part of another split of the same data
    assert main(["encode", "--model", str(rgb_model), "--data", str(damaged_celeba), "--shard", "1/2",
                 "--out", str(tmp_path / "half.h5"), "-q"]) == 0
    with pytest.raises(Exception, match="does not belong"):
        merge_stores([parts[0], tmp_path / "half.h5", parts[2]], tmp_path / "m.h5")
    # a part from another model
    other = tmp_path / "other.h5"
    shutil.copy(parts[1], other)
    with h5py.File(other, "r+") as f:
        f.attrs["model_sha256"] = "0" * 64
    with pytest.raises(Exception, match="model_sha256"):
        merge_stores([parts[0], other, parts[2]], tmp_path / "m.h5")
    # an unfinished part
    with h5py.File(other, "r+") as f:
        f.attrs["model_sha256"] = dict(h5py.File(parts[0], "r").attrs)["model_sha256"]
        f.attrs["complete"] = False
    with pytest.raises(Exception, match="incomplete"):
        merge_stores([parts[0], other, parts[2]], tmp_path / "m.h5")
    # the CLI turns these into one error line and exit code 2
    assert main(["merge", str(parts[0]), "--out", str(tmp_path / "m.h5")]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["encode", "--model", str(rgb_model), "--data", str(damaged_celeba), "--shard", "3/3",
                 "--out", str(tmp_path / "bad.h5"), "-q"]) == 2
    assert "--shard" in capsys.readouterr().err
