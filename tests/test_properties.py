"""Property-based tests: the list-file parsers and the z-store reader on random and corrupted input.

The contract: correct data, or the one documented error type (``DataSourceError`` for the
list files, ``StoreError`` for stores) — never another exception.
"""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from latentlab import StoreError, open_store, write_store
from latentlab._errors import DataSourceError
from latentlab.sources import read_attribute_file, read_partition_file

SETTINGS = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.-", min_size=1, max_size=12)


def _write(tmp_path, data: bytes, name: str):
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- list_eval_partition.txt ----------------------------------------------------
@SETTINGS
@given(table=st.dictionaries(names, st.sampled_from([0, 1, 2]), min_size=1, max_size=30),
       sep=st.sampled_from([" ", "  ", "\t"]), eol=st.sampled_from(["\n", "\r\n"]), bom=st.booleans())
def test_partition_parser_reads_well_formed_files(tmp_path, table, sep, eol, bom):
    text = "".join(f"{k}{sep}{v}{eol}" for k, v in table.items())
    path = _write(tmp_path, (b"\xef\xbb\xbf" if bom else b"") + text.encode(), "p.txt")
    assert read_partition_file(path) == table


@SETTINGS
@given(data=st.binary(max_size=300))
def test_partition_parser_on_random_bytes(tmp_path, data):
    path = _write(tmp_path, data, "p.txt")
    try:
        out = read_partition_file(path)
    except DataSourceError as exc:
        assert "\n" not in str(exc)
        return
    assert out and all(v in (0, 1, 2) for v in out.values())


@SETTINGS
@given(table=st.dictionaries(names, st.sampled_from([0, 1, 2]), min_size=1, max_size=20),
       pos=st.integers(0, 10_000), junk=st.binary(min_size=1, max_size=8), cut=st.booleans())
def test_partition_parser_on_corrupted_files(tmp_path, table, pos, junk, cut):
    data = "".join(f"{k} {v}\n" for k, v in table.items()).encode()
    pos %= len(data)
    data = data[:pos] if cut else data[:pos] + junk + data[pos:]
    path = _write(tmp_path, data, "p.txt")
    try:
        out = read_partition_file(path)
    except DataSourceError:
        return
    assert all(v in (0, 1, 2) for v in out.values())


# -- list_attr_celeba.txt -------------------------------------------------------
@st.composite
def attribute_tables(draw):
    attr_names = draw(st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc", min_size=1, max_size=10),
                               min_size=1, max_size=6))
    ids = draw(st.lists(names, min_size=0, max_size=15, unique=True))
    rows = {i: draw(st.lists(st.sampled_from([-1, 1]), min_size=len(attr_names), max_size=len(attr_names)))
            for i in ids}
    return attr_names, rows


def _attr_text(attr_names, rows, width=2) -> str:
    lines = [f"{len(rows)}\n", " ".join(attr_names) + " \n"]
    lines += [f"{k} " + " ".join(f"{v:{width}d}" for v in r) + "\n" for k, r in rows.items()]
    return "".join(lines)


@SETTINGS
@given(table=attribute_tables(), width=st.sampled_from([1, 2, 3]))
def test_attribute_parser_reads_well_formed_files(tmp_path, table, width):
    attr_names, rows = table
    path = _write(tmp_path, _attr_text(attr_names, rows, width).encode(), "a.txt")
    got_names, got = read_attribute_file(path)
    assert got_names == attr_names
    assert set(got) == set(rows)
    for k, r in rows.items():
        assert got[k].dtype == np.int8 and got[k].tolist() == r


@SETTINGS
@given(data=st.binary(max_size=300))
def test_attribute_parser_on_random_bytes(tmp_path, data):
    path = _write(tmp_path, data, "a.txt")
    try:
        got_names, got = read_attribute_file(path)
    except DataSourceError as exc:
        assert "\n" not in str(exc)
        return
    for r in got.values():
        assert r.dtype == np.int8 and len(r) == len(got_names) and set(r.tolist()) <= {-1, 1}


@SETTINGS
@given(table=attribute_tables(), pos=st.integers(0, 10_000),
       junk=st.sampled_from([b"7", b"300", b"-1 ", b"x", b"\n", b"\xff", b"99999999999999999999", b" 1 -1"]),
       cut=st.booleans())
def test_attribute_parser_on_corrupted_files(tmp_path, table, pos, junk, cut):
    data = _attr_text(*table).encode()
    pos %= len(data)
    data = data[:pos] if cut else data[:pos] + junk + data[pos:]
    path = _write(tmp_path, data, "a.txt")
    try:
        got_names, got = read_attribute_file(path)
    except DataSourceError:
        return
    for r in got.values():
        assert len(r) == len(got_names) and set(r.tolist()) <= {-1, 1}


# -- the z-store reader -----------------------------------------------------------
def _read_everything(path) -> None:
    """Open and read every part of a store; only StoreError may escape."""
    with open_store(path, allow_incomplete=True) as s:
        assert s.n >= 0 and s.z_dim >= 1
        z = s.read_z()
        assert z.shape == (s.n, s.z_dim)
        if s.n:
            s.read_ids()
            list(s.iter_chunks(7))
        if s.partition is not None:
            s.partition[:]
        if s.attributes is not None:
            s.attributes[:]
        s.skipped()
        s.check_finite()


@pytest.fixture(scope="module")
def good_store(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("props") / "good.h5"
    write_store(path, rng.normal(size=(300, 6)), [f"{i:06d}.jpg" for i in range(300)],
                partition=np.arange(300) % 3, attributes=rng.choice([-1, 1], size=(300, 4)), chunk_rows=64)
    return path


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000), hdf5_signature=st.booleans())
def test_reader_on_random_bytes(tmp_path, data, hdf5_signature):
    if hdf5_signature:
        data = b"\x89HDF\r\n\x1a\n" + data
    path = _write(tmp_path, data, "r.h5")
    with pytest.raises(StoreError):
        _read_everything(path)


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.floats(0, 1, exclude_max=True))
def test_reader_on_truncated_stores(tmp_path, good_store, where):
    # A copy cut short (disk full, interrupted transfer) is refused at open, never hangs.
    data = good_store.read_bytes()
    path = _write(tmp_path, data[: int(where * len(data))], "t.h5")
    with pytest.raises(StoreError) as info:
        _read_everything(path)
    assert "\n" not in str(info.value)


def _chunk_spans(path):
    """(offset, size) of every stored chunk of /z, /partition and /attributes."""
    spans = []
    with h5py.File(path, "r") as f:
        for key in ("z", "partition", "attributes"):
            ds = f[key]
            for i in range(ds.id.get_num_chunks()):
                info = ds.id.get_chunk_info(i)
                spans.append((key, info.byte_offset, info.size))
    return spans


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pick=st.integers(0, 10_000), where=st.floats(0, 1, exclude_max=True), length=st.integers(1, 16),
       seed=st.integers(0, 2**32 - 1))
def test_reader_detects_corrupted_rows(tmp_path, good_store, pick, where, length, seed):
    # Damaged row data is never handed out silently: chunk checksums (fletcher32) turn it into a StoreError.
    spans = _chunk_spans(good_store)
    key, offset, size = spans[pick % len(spans)]
    data = bytearray(good_store.read_bytes())
    start = offset + int(where * size)
    end = min(offset + size, start + length)
    patch = np.random.default_rng(seed).integers(0, 256, end - start, dtype=np.uint8).tobytes()
    assume(bytes(data[start:end]) != patch)
    data[start:end] = patch
    path = _write(tmp_path, bytes(data), "c.h5")
    with pytest.raises(StoreError, match=f"cannot read /{key}"):
        _read_everything(path)


@st.composite
def odd_layouts(draw):
    """Structurally valid HDF5 files that may or may not be z-stores."""
    rows = draw(st.integers(0, 12))
    spec = {}
    z_kind = draw(st.sampled_from(["ok", "int", "1d", "3d", "group", "none", "zero_cols", "str"]))
    spec["z"] = z_kind
    spec["ids"] = draw(st.sampled_from(["ok", "short", "long", "int", "2d", "group", "none"]))
    spec["partition"] = draw(st.sampled_from(["ok", "float", "2d", "none", "short"]))
    spec["attributes"] = draw(st.sampled_from(["ok", "1d", "float", "none", "bad_names"]))
    spec["complete"] = draw(st.sampled_from([True, False, "yes", "false", 0, None]))
    spec["nan"] = draw(st.booleans())
    return rows, spec


def _build(path, rows, spec):
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        z = rng.normal(size=(rows, 3)).astype(np.float32)
        if spec["nan"] and rows:
            z[rows // 2, 1] = np.nan
        kind = spec["z"]
        if kind == "ok":
            f["z"] = z
        elif kind == "int":
            f["z"] = z.astype(np.int32)
        elif kind == "1d":
            f["z"] = z.ravel()
        elif kind == "3d":
            f["z"] = z.reshape(rows, 3, 1)
        elif kind == "group":
            f.create_group("z")
        elif kind == "zero_cols":
            f["z"] = np.zeros((rows, 0), np.float32)
        elif kind == "str":
            f["z"] = np.array([str(i) for i in range(rows)], dtype=h5py.string_dtype())
        ids = np.array([f"{i:03d}" for i in range(rows)], dtype=object)
        k = spec["ids"]
        if k == "ok":
            f.create_dataset("ids", data=ids, dtype=h5py.string_dtype())
        elif k == "short":
            f.create_dataset("ids", data=ids[: rows // 2], dtype=h5py.string_dtype())
        elif k == "long":
            f.create_dataset("ids", data=np.concatenate([ids, ids]), dtype=h5py.string_dtype())
        elif k == "int":
            f["ids"] = np.arange(rows)
        elif k == "2d":
            f.create_dataset("ids", data=np.array([ids, ids], dtype=object), dtype=h5py.string_dtype())
        elif k == "group":
            f.create_group("ids")
        p = spec["partition"]
        if p == "ok":
            f["partition"] = (np.arange(rows) % 3).astype(np.int8)
        elif p == "float":
            f["partition"] = np.zeros(rows)
        elif p == "2d":
            f["partition"] = np.zeros((rows, 2), np.int8)
        elif p == "short":
            f["partition"] = np.zeros(rows // 2, np.int8)
        a = spec["attributes"]
        if a in ("ok", "bad_names"):
            ds = f.create_dataset("attributes", data=np.ones((rows, 2), np.int8))
            ds.attrs["names"] = np.array(["A", "B"] if a == "ok" else ["only-one"], dtype=h5py.string_dtype())
        elif a == "1d":
            f["attributes"] = np.ones(rows, np.int8)
        elif a == "float":
            f["attributes"] = np.ones((rows, 2))
        if spec["complete"] is not None:
            f.attrs["complete"] = spec["complete"]


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layout=odd_layouts())
def test_reader_on_odd_layouts(tmp_path, layout):
    rows, spec = layout
    path = tmp_path / "odd.h5"
    _build(path, rows, spec)
    valid = (spec["z"] == "ok" and spec["ids"] in ("ok", "short", "long", "none")
             and spec["partition"] in ("ok", "none", "short") and spec["attributes"] in ("ok", "none", "bad_names"))
    try:
        with open_store(path, allow_incomplete=True) as s:
            n = s.n
            z = s.read_z() if not spec["nan"] else None
    except StoreError as exc:
        assert "\n" not in str(exc)
        assert not valid or spec["nan"] or spec["complete"] not in (False, "false", 0), str(exc)
        if spec["nan"] and valid and rows and "NaN" in str(exc):
            with open_store(path, allow_incomplete=True, allow_nonfinite=True) as s:
                assert list(s.check_finite()) == [rows // 2] or s.n <= rows // 2
        return
    assert valid, spec
    if z is not None:
        assert z.shape == (n, 3)
    expected = rows
    if spec["ids"] == "short" or spec["partition"] == "short":
        expected = rows // 2
    assert n == expected


def test_reader_sees_a_prefix_of_a_store_torn_between_z_and_ids(tmp_path, good_store):
    # A writer killed after extending /z but before /ids: the reader shows the committed prefix.
    path = tmp_path / "torn.h5"
    shutil.copy(good_store, path)
    with h5py.File(path, "r+") as f:
        f.attrs["complete"] = False
        f["ids"].resize((250,))
    with open_store(path, allow_incomplete=True) as s:
        assert s.n == 250 and s.read_z().shape == (250, 6)
    with pytest.raises(StoreError, match="incomplete"):
        open_store(path)
