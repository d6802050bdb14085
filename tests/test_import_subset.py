"""`latentlab import` and `latentlab subset`: round trips against the inputs, hostile inputs refused in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pandas as pd
import pytest

from latentlab import open_store
from latentlab.cli import main
from latentlab.store import import_array, subset_store

N, D = 240, 6
CLASSES = np.array(["bag", "coat", "shirt"])
SPLITS = np.array(["train", "val", "test"])


@pytest.fixture()
def inputs(tmp_path):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(N, D)).astype(np.float32) * 3 + 1
    ids = np.array([f"img_{i:04d}" for i in range(N)])
    label = rng.choice(CLASSES, N)
    split = rng.choice(SPLITS, N)
    smiling = rng.choice(["yes", "no"], N)
    np.save(tmp_path / "z.npy", z)
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    # shuffled: rows are matched by id, not by position
    order = rng.permutation(N)
    pd.DataFrame({"id": ids[order], "label": label[order], "split": split[order], "smiling": smiling[order]}).to_csv(
        tmp_path / "labels.csv", index=False)
    return {"dir": tmp_path, "z": z, "ids": ids, "label": label, "split": split, "smiling": smiling}


def _expected_attributes(inp):
    # independent of latentlab: one-hot by sorted class name, then the yes/no column as ±1
    onehot = np.where(inp["label"][:, None] == CLASSES[None, :], 1, -1)
    return ["label=bag", "label=coat", "label=shirt", "smiling"], np.column_stack(
        [onehot, np.where(inp["smiling"] == "yes", 1, -1)]).astype(np.int8)


def _read(path):
    with open_store(path) as s:
        return {
            "z": s.read_z(), "ids": list(s.read_ids()), "attrs": dict(s.attrs), "names": list(s.attribute_names),
            "partition": None if s.partition is None else np.asarray(s.partition[:]),
            "attributes": None if s.attributes is None else np.asarray(s.attributes[:]),
        }


def _cli(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_import_npy_round_trip_through_the_cli(inputs, capsys):
    d = inputs["dir"]
    code, out, err = _cli(["import", d / "z.npy", "--out", d / "z.h5", "--ids", d / "ids.txt",
                           "--attributes", d / "labels.csv", "--partition-column", "split"], capsys)
    assert code == 0, err
    got = _read(d / "z.h5")
    np.testing.assert_array_equal(got["z"], inputs["z"])
    assert got["ids"] == list(inputs["ids"])
    np.testing.assert_array_equal(got["partition"], [{"train": 0, "val": 1, "test": 2}[p] for p in inputs["split"]])
    names, matrix = _expected_attributes(inputs)
    assert got["names"] == names
    np.testing.assert_array_equal(got["attributes"], matrix)
    assert got["attrs"]["dataset"] == "import" and got["attrs"]["source_format"] == "npy"
    assert got["attrs"]["complete"] and got["attrs"]["partition_column"] == "split"
    import hashlib

    assert got["attrs"]["source_sha256"] == hashlib.sha256((d / "z.npy").read_bytes()).hexdigest()
    assert f"{N:,} rows, z_dim {D}" in out


@pytest.mark.parametrize("fmt", ["npz", "parquet", "csv-header", "csv-bare", "parquet-vectors"])
def test_import_other_formats_keep_values_and_ids(inputs, fmt):
    d, z, ids = inputs["dir"], inputs["z"], inputs["ids"]
    if fmt == "npz":
        src = d / "z.npz"
        np.savez_compressed(src, z=z, ids=ids)
    elif fmt == "parquet":
        src = d / "z.parquet"
        pd.DataFrame(z, columns=[f"z{j}" for j in range(D)]).assign(id=ids).to_parquet(src)
    elif fmt == "parquet-vectors":
        src = d / "vec.parquet"
        pd.DataFrame({"id": ids, "embedding": list(z.astype(np.float64))}).to_parquet(src)
    elif fmt == "csv-header":
        src = d / "z.csv"
        pd.DataFrame(z, columns=[f"z{j}" for j in range(D)]).assign(id=ids).to_csv(src, index=False, float_format="%.9g")
    else:
        src = d / "bare.csv"
        np.savetxt(src, z, delimiter=",", fmt="%.9g")
    out = import_array(src, d / f"{fmt}.h5")
    got = _read(out)
    np.testing.assert_array_equal(got["z"], z)  # float32 survives %.9g text exactly
    assert got["ids"] == (list(map(str, range(N))) if fmt == "csv-bare" else list(ids))
    assert got["partition"] is None and got["attributes"] is None


def test_import_labels_without_id_column_are_matched_row_by_row(inputs):
    d = inputs["dir"]
    pd.DataFrame({"label": inputs["label"]}).to_csv(d / "plain.csv", index=False)
    got = _read(import_array(d / "z.npy", d / "z.h5", attributes=d / "plain.csv"))
    assert got["ids"] == [str(i) for i in range(N)]
    assert got["names"] == ["label=bag", "label=coat", "label=shirt"]
    np.testing.assert_array_equal(got["attributes"].argmax(axis=1), np.searchsorted(CLASSES, inputs["label"]))


def test_import_ids_from_the_attribute_csv_and_missing_rows_are_unknown(inputs):
    d = inputs["dir"]
    # without --ids the CSV's id column names the rows in its order
    pd.DataFrame({"id": inputs["ids"], "label": inputs["label"]}).to_csv(d / "ordered.csv", index=False)
    got = _read(import_array(d / "z.npy", d / "a.h5", attributes=d / "ordered.csv"))
    assert got["ids"] == list(inputs["ids"])
    # with --ids, points the CSV does not list get 0 (unknown) and partition -1
    pd.DataFrame({"id": inputs["ids"][:10], "label": inputs["label"][:10], "split": ["train"] * 10}).to_csv(
        d / "few.csv", index=False)
    got = _read(import_array(d / "z.npy", d / "b.h5", ids=d / "ids.txt", attributes=d / "few.csv",
                             partition_column="split"))
    assert (got["attributes"][10:] == 0).all() and (got["partition"][10:] == -1).all()
    assert (got["partition"][:10] == 0).all()


def test_imported_store_works_without_a_model(inputs, tmp_path):
    """pca, fit-region and the explorer's data on an imported store, with no TensorFlow imported."""
    d = inputs["dir"]
    code = (
        "import sys; from latentlab.cli import main\n"
        f"d = {str(d)!r}\n"
        "assert main(['import', d + '/z.npy', '--out', d + '/z.h5', '--attributes', d + '/labels.csv',"
        " '--partition-column', 'split']) == 0\n"
        "assert main(['subset', d + '/z.h5', '--out', d + '/s.h5', '--n', '50', '--partition', 'train']) == 0\n"
        "assert main(['pca', d + '/s.h5', '--out', d + '/pca']) == 0\n"
        "assert main(['fit-region', '--z', d + '/z.h5', '--region', 'gmm', '--components', '3', '--out',"
        " d + '/gmm.region']) == 0\n"
        "from latentlab.explore import load_explore_data\n"
        "data = load_explore_data(d + '/z.h5')\n"
        "assert 'attribute: label=bag' in data.colours and 'partition' in data.colours, list(data.colours)\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (d / "gmm.region").exists() and (d / "pca" / "pca.json").exists()


def test_pt_tensor_when_torch_is_installed(inputs):
    torch = pytest.importorskip("torch")
    d = inputs["dir"]
    torch.save({"z": torch.from_numpy(inputs["z"])}, d / "z.pt")
    np.testing.assert_array_equal(_read(import_array(d / "z.pt", d / "z.h5"))["z"], inputs["z"])


def test_pt_without_torch_is_one_line(inputs, capsys, monkeypatch):
    d = inputs["dir"]
    (d / "z.pt").write_bytes(b"PK\x03\x04 not really")
    monkeypatch.setitem(sys.modules, "torch", None)  # as if PyTorch were not installed
    code, _, err = _cli(["import", d / "z.pt", "--out", d / "z.h5"], capsys)
    assert code == 2 and err.count("\n") == 1 and "needs PyTorch" in err
    assert not (d / "z.h5").exists()


def _npy_with_header(path, shape, dtype="<f4"):
    # a header that claims `shape` in front of almost no data (a file that lies about its size)
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 64)


def _hostile(d, case):
    """Write one hostile input; return (CLI args, words the error must contain)."""
    z = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    if case == "pickle":
        np.save(d / "x.npy", np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
        return ["x.npy"], "objects"
    if case == "nan":
        bad = z.copy()
        bad[7, 1] = np.nan
        np.save(d / "x.npy", bad)
        return ["x.npy"], "row 7"
    if case == "inf":
        bad = z.astype(np.float64)
        bad[4, 0] = np.inf
        np.save(d / "x.npy", bad)
        return ["x.npy"], "row 4"
    if case == "beyond-float32":
        big = z.astype(np.float64)
        big[2, 2] = 1e300
        np.save(d / "x.npy", big)
        return ["x.npy"], "float32"
    if case == "3d":
        np.save(d / "x.npy", np.zeros((4, 3, 2), np.float32))
        return ["x.npy"], "2-D"
    if case == "strings":
        np.save(d / "x.npy", np.array([["a", "b"]]))
        return ["x.npy"], "real numbers"
    if case == "complex":
        np.save(d / "x.npy", np.zeros((3, 2), np.complex64))
        return ["x.npy"], "real numbers"
    if case == "huge-header":
        _npy_with_header(d / "x.npy", (10**12, 256))
        return ["x.npy"], "truncated"
    if case == "garbage-npy":
        (d / "x.npy").write_bytes(b"\x93NUMPY\x01\x00" + b"\xff" * 40)
        return ["x.npy"], "not a readable"
    if case == "npz-bomb":
        with zipfile.ZipFile(d / "x.npz", "w", zipfile.ZIP_DEFLATED) as zf:
            with zf.open("z.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (1 << 25, 8)})
                block = b"\0" * (1 << 20)
                for _ in range(1 << 7):
                    fh.write(block)
        return ["x.npz"], "zip bomb"
    if case == "npz-which":
        np.savez(d / "x.npz", a=z, b=z)
        return ["x.npz"], "which array"
    if case == "csv-text":
        (d / "x.csv").write_text("a,b\n1,2\n3,cat\n")
        return ["x.csv"], "not numbers"
    if case == "csv-ragged":
        (d / "x.csv").write_text("1,2\n3,4,5\n")
        return ["x.csv"], "CSV"
    if case == "csv-empty-cell":
        (d / "x.csv").write_text("a,b\n1,2\n3,\n")
        return ["x.csv"], "empty value"
    if case == "suffix":
        (d / "x.txt").write_text("1 2\n")
        return ["x.txt"], "unknown format"
    if case == "fifo":
        os.mkfifo(d / "x.npy")
        return ["x.npy"], "not a regular file"
    np.save(d / "x.npy", z)
    if case == "ids-count":
        (d / "ids.txt").write_text("\n".join(f"i{k}" for k in range(19)))
        return ["x.npy", "--ids", "ids.txt"], "19 ids for 20 rows"
    if case == "ids-duplicate":
        (d / "ids.txt").write_text("\n".join(["a"] * 2 + [f"i{k}" for k in range(18)]))
        return ["x.npy", "--ids", "ids.txt"], "appears twice"
    if case == "ids-empty":
        (d / "ids.txt").write_text("\n".join(["a", "", *[f"i{k}" for k in range(18)]]))
        return ["x.npy", "--ids", "ids.txt"], "empty"
    if case == "ids-too-big":
        (d / "ids.txt").write_text("x" * 200_000)
        return ["x.npy", "--ids", "ids.txt"], "too large"
    if case == "labels-count":
        (d / "l.csv").write_text("label\n" + "a\n" * 19)
        return ["x.npy", "--attributes", "l.csv"], "19 data rows"
    if case == "labels-no-match":
        (d / "l.csv").write_text("id,label\nzz,a\nyy,b\n")
        (d / "ids.txt").write_text("\n".join(f"i{k}" for k in range(20)))
        return ["x.npy", "--ids", "ids.txt", "--attributes", "l.csv"], "none of its ids"
    if case == "partition-value":
        (d / "l.csv").write_text("split\n" + "train\n" * 19 + "holdout\n")
        return ["x.npy", "--attributes", "l.csv", "--partition-column", "split"], "'holdout'"
    if case == "partition-column-missing":
        (d / "l.csv").write_text("label\n" + "a\n" * 20)
        return ["x.npy", "--attributes", "l.csv", "--partition-column", "split"], "not a column"
    if case == "out-is-input":
        return ["x.npy", "--overwrite"], "is the array input"
    raise AssertionError(case)


HOSTILE = ["pickle", "nan", "inf", "beyond-float32", "3d", "strings", "complex", "huge-header", "garbage-npy",
           "npz-bomb", "npz-which", "csv-text", "csv-ragged", "csv-empty-cell", "suffix", "fifo", "ids-count",
           "ids-duplicate", "ids-empty", "ids-too-big", "labels-count", "labels-no-match", "partition-value",
           "partition-column-missing", "out-is-input"]


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_inputs_fail_in_one_line_and_write_nothing(tmp_path, capsys, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    args, words = _hostile(tmp_path, case)
    out = args[0] if case == "out-is-input" else "out.h5"
    before = sorted(os.listdir(tmp_path))
    code, _, err = _cli(["import", args[0], "--out", out, *args[1:]], capsys)
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert words in err, err
    assert sorted(os.listdir(tmp_path)) == before  # no store, no temporary file, no lock left behind


def test_existing_output_is_kept(inputs, capsys):
    d = inputs["dir"]
    (d / "z.h5").write_bytes(b"precious")
    code, _, err = _cli(["import", d / "z.npy", "--out", d / "z.h5"], capsys)
    assert code == 2 and "already exists" in err
    assert (d / "z.h5").read_bytes() == b"precious"
    # a refused input with --overwrite replaces nothing either
    bad = inputs["z"].copy()
    bad[0, 0] = np.nan
    np.save(d / "bad.npy", bad)
    code, _, err = _cli(["import", d / "bad.npy", "--out", d / "z.h5", "--overwrite"], capsys)
    assert code == 2 and (d / "z.h5").read_bytes() == b"precious"


def test_subset_keeps_rows_partitions_and_attributes(inputs, capsys):
    d = inputs["dir"]
    import_array(d / "z.npy", d / "z.h5", ids=d / "ids.txt", attributes=d / "labels.csv", partition_column="split")
    full = _read(d / "z.h5")
    code, _, err = _cli(["subset", d / "z.h5", "--out", d / "s.h5", "--n", "30", "--partition", "val", "--seed", "4"],
                        capsys)
    assert code == 0, err
    sub = _read(d / "s.h5")
    where = {i: k for k, i in enumerate(full["ids"])}
    rows = np.array([where[i] for i in sub["ids"]])
    assert len(sub["ids"]) == 30 == len(set(sub["ids"]))
    assert (np.diff(rows) > 0).all()  # the store's order is kept
    assert (full["partition"][rows] == 1).all() and (sub["partition"] == 1).all()
    np.testing.assert_array_equal(sub["z"], full["z"][rows])
    np.testing.assert_array_equal(sub["attributes"], full["attributes"][rows])
    assert sub["names"] == full["names"]
    assert sub["attrs"]["source_sha256"] == full["attrs"]["source_sha256"]  # provenance comes along
    assert sub["attrs"]["subset_of_rows"] == N and sub["attrs"]["subset_seed"] == 4
    # same seed, same rows; another seed, other rows
    again = _read(subset_store(d / "z.h5", d / "s2.h5", 30, partition="val", seed=4))
    other = _read(subset_store(d / "z.h5", d / "s3.h5", 30, partition="val", seed=5))
    assert again["ids"] == sub["ids"] and other["ids"] != sub["ids"]
    # all rows of a partition: exactly that partition
    every = _read(subset_store(d / "z.h5", d / "s4.h5", int((full["partition"] == 2).sum()), partition="test"))
    assert every["ids"] == [i for i, p in zip(full["ids"], full["partition"]) if p == 2]


@pytest.mark.parametrize("args, words", [
    (["--n", "100000"], "the store has"),
    (["--n", "0"], "--n"),
    (["--n", "5", "--partition", "holdout"], "unknown partition"),
])
def test_subset_refusals(inputs, capsys, args, words):
    d = inputs["dir"]
    import_array(d / "z.npy", d / "z.h5")
    code, _, err = _cli(["subset", d / "z.h5", "--out", d / "s.h5", *args], capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and words in err, err
    assert not (d / "s.h5").exists()


def test_subset_store_is_readable_by_plain_h5py(inputs):
    d = inputs["dir"]
    import_array(d / "z.npy", d / "z.h5", attributes=d / "labels.csv", partition_column="split")
    subset_store(d / "z.h5", d / "s.h5", 12)
    with h5py.File(d / "s.h5", "r") as f:
        assert f["z"].shape == (12, D) and f["attributes"].shape[0] == 12 and f["partition"].shape == (12,)
        assert bool(f.attrs["complete"])
