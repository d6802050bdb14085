"""The z-store format: layout, lazy reading, streaming, completeness."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from latentlab import StoreError, StoreWriter, open_store, write_store


def test_layout_matches_the_documented_format(tmp_path):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1000, 12)).astype(np.float32)
    attrs = rng.choice([-1, 1], size=(1000, 3)).astype(np.int8)
    path = write_store(tmp_path / "z.h5", z, [f"{i:06d}.jpg" for i in range(1000)], partition=np.arange(1000) % 3,
                       attributes=attrs, attribute_names=["Smiling", "Male", "Young"], attrs={"dataset": "celeba"})
    with h5py.File(path, "r") as f:  # plain h5py, no latentlab
        assert f["z"].dtype == np.float32 and f["z"].shape == (1000, 12)
        assert f["z"].chunks is not None and f["z"].compression == "gzip"
        assert f["ids"].asstr()[3] == "000003.jpg"
        assert f["partition"].dtype == np.int8 and f["attributes"].dtype == np.int8
        assert list(f["attributes"].attrs["names"]) == ["Smiling", "Male", "Young"]
        assert f.attrs["complete"] and f.attrs["z_dim"] == 12 and f.attrs["dataset"] == "celeba"
        for key in ("latentlab_version", "created"):
            assert key in f.attrs
    with open_store(path) as s:
        assert s.n == 1000 and s.z_dim == 12 and s.complete
        np.testing.assert_array_equal(s.z[10:20], z[10:20])
        np.testing.assert_array_equal(s.z[[5, 1]], z[[5, 1]])
        assert s.attribute_names == ["Smiling", "Male", "Young"]
        np.testing.assert_array_equal(s.read_z("val"), z[np.arange(1000) % 3 == 1])
        assert list(s.read_ids("test")[:2]) == ["000002.jpg", "000005.jpg"]


@pytest.mark.parametrize("chunk_rows", [7, 100, 5000])
def test_streaming_sees_every_row_once(tmp_path, chunk_rows):
    z = np.random.default_rng(1).normal(size=(777, 5))
    path = write_store(tmp_path / "z.h5", z, chunk_rows=64)
    with open_store(path) as s:
        blocks = list(s.iter_chunks(chunk_rows, with_index=True))
    idx = np.concatenate([b[0] for b in blocks])
    data = np.concatenate([b[1] for b in blocks])
    np.testing.assert_array_equal(idx, np.arange(777))
    np.testing.assert_allclose(data, z.astype(np.float32))


def test_incomplete_store_is_refused_unless_allowed(tmp_path):
    path = tmp_path / "z.h5"
    w = StoreWriter(path, 4)
    w.append(np.ones((10, 4)), [str(i) for i in range(10)])
    w.close(complete=False)
    with pytest.raises(StoreError, match="incomplete"):
        open_store(path)
    with open_store(path, allow_incomplete=True) as s:
        assert s.n == 10 and not s.complete


def test_resume_keeps_rows_and_appends(tmp_path):
    path = tmp_path / "z.h5"
    w = StoreWriter(path, 3)
    w.append(np.zeros((5, 3)), list("abcde"))
    w.close(complete=False)
    w = StoreWriter(path, 3, mode="resume")
    assert w.resumed_ids == list("abcde")
    w.append(np.ones((2, 3)), ["f", "g"])
    w.close()
    with open_store(path) as s:
        assert list(s.read_ids()) == list("abcdefg")
        assert s.read_z()[-1].tolist() == [1, 1, 1]


def test_existing_store_is_never_overwritten_silently(tmp_path):
    path = write_store(tmp_path / "z.h5", np.zeros((3, 2)))
    with pytest.raises(StoreError, match="already exists"):
        write_store(path, np.ones((3, 2)))
    with open_store(path) as s:
        assert s.read_z().sum() == 0


def test_second_writer_is_refused_by_the_lock(tmp_path):
    path = tmp_path / "z.h5"
    first = StoreWriter(path, 2)
    try:
        with pytest.raises(StoreError, match="another process is writing"):
            StoreWriter(path, 2, mode="resume")
    finally:
        first.close()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_text("hello"), "not an HDF5 file"),
        (lambda p: h5py.File(p, "w").close(), "no /z dataset"),
        (lambda p: h5py.File(p, "w").create_dataset("z", data=np.zeros(4)), "must be 2-D"),
        (lambda p: h5py.File(p, "w").create_dataset("z", data=np.zeros((4, 2), dtype="i4")), "must hold floats"),
    ],
)
def test_bad_files_give_one_clear_error(tmp_path, make, message):
    path = tmp_path / "bad.h5"
    make(path)
    with pytest.raises(StoreError, match=message):
        open_store(path)
    with pytest.raises(StoreError, match="no such file"):
        open_store(tmp_path / "missing.h5")


_KILLED_WRITER = """
import os, sys, numpy as np
from latentlab import StoreWriter
w = StoreWriter(sys.argv[1], 8)
w.append(np.repeat(np.arange(30, dtype=np.float32)[:, None], 8, axis=1), [f"0-{j}" for j in range(30)])
os._exit(0)  # dies like a SIGKILL: no close, SWMR flags left set
"""


def test_killed_writer_caught_mid_flush_is_read_and_resumed(tmp_path):
    # A SWMR writer's superblock counts space reserved at the end of the file
    # before a flush has written it; a reader (or a resume) that comes between
    # the two, or after a kill there, sees a file shorter than its superblock.
    import subprocess
    import sys

    path = tmp_path / "z.h5"
    subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(path)], check=True)
    data = path.read_bytes()
    unwritten = min(len(data) - len(data.rstrip(b"\0")), 4096)
    assert unwritten > 0  # reserved, never-written tail
    path.write_bytes(data[:-unwritten])
    with pytest.raises(OSError, match="truncated file"):
        h5py.File(path, "r")
    with open_store(path, allow_incomplete=True) as s:
        assert s.n == 30 and not s.complete
        np.testing.assert_array_equal(s.read_z()[:, 0], np.arange(30))
        assert s.read_ids()[29] == "0-29"
    w = StoreWriter(path, 8, mode="resume")
    assert len(w.resumed_ids) == 30
    w.append(np.full((5, 8), 3.0), [f"3-{j}" for j in range(5)])
    w.close()
    with open_store(path) as s:
        assert s.n == 35 and s.complete and s.read_ids()[-1] == "3-4"


def test_fingerprint_tracks_rows_and_provenance(tmp_path):
    import numpy as np

    from latentlab import open_store, write_store

    z = np.random.default_rng(0).normal(size=(5000, 8)).astype("f4")
    write_store(tmp_path / "a.h5", z, attrs={"created": "t0"})
    write_store(tmp_path / "b.h5", z, attrs={"created": "t0"})
    changed = z.copy()
    changed[-1, 0] += 1
    write_store(tmp_path / "c.h5", changed, attrs={"created": "t0"})
    a, b, c = (open_store(tmp_path / f"{x}.h5").fingerprint for x in "abc")
    assert a == b and a != c


def test_atomic_outputs_get_the_ordinary_file_mode(tmp_path):
    import os

    from latentlab._io import write_json

    umask = os.umask(0o022)
    try:
        path = write_json(tmp_path / "out.json", {"a": 1})
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
