"""Writes that fail for real: a full disk (a 1 MiB tmpfs), a read-only file system, SIGTERM; no silent replacement.

Each command runs as a real subprocess (a segfault or an "Exception ignored" at interpreter exit is only
visible there). The tmpfs tests need root (CI runs as root); elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from latentlab.cli import main

CLI = [sys.executable, "-c", "from latentlab.cli import main; main()"]


def _run(args, timeout=600, **kw):
    return subprocess.run([*CLI, *[str(a) for a in args]], capture_output=True, text=True, timeout=timeout, **kw)


def _everything(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _temporaries(folder: Path) -> list[str]:
    return [name for name in _everything(folder) if ".tmp" in name or name.endswith(".lock")]


def _assert_one_error_line(proc, needle: str):
    err = proc.stderr
    assert "Traceback" not in err and "Exception ignored" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0], err[-3000:]
    assert err.rstrip().splitlines()[-1] == errors[0]  # the last thing said
    return errors[0]


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 MiB tmpfs; ``fill(leave)`` leaves ``leave`` bytes free."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill for real (needs root): {proc.stderr.strip()}")

    class Disk:
        path = mount

        @staticmethod
        def fill(leave: int) -> None:
            st = os.statvfs(mount)
            with open(mount / "filler", "wb") as f:
                f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))

        @staticmethod
        def read_only() -> None:
            subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)

    try:
        yield Disk
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


# -- a full disk, for real ----------------------------------------------------------------------------------


def test_full_disk_during_encode_is_one_line_and_the_store_resumes(demo, tmpfs):
    out = tmpfs.path / "z.h5"
    tmpfs.fill(40_000)  # room for the lock and the file's start, not for the 100 rows
    proc = _run(["encode", "--model", demo.model_dir, "--dataset", "lfw", "--out", out])
    assert proc.returncode == 2, proc.stderr[-3000:]  # not 139 (segfault) nor 1 (internal error)
    _assert_one_error_line(proc, f"{out}: no space left on the device")
    assert _temporaries(tmpfs.path) == []
    # what is left is what a killed writer leaves: an incomplete store that --resume finishes
    (tmpfs.path / "filler").unlink()
    proc = _run(["encode", "--model", demo.model_dir, "--dataset", "lfw", "--out", out, "--resume"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    with h5py.File(out, "r") as f, h5py.File(demo.store, "r") as ref:
        assert bool(f.attrs["complete"]) and f["z"].shape == ref["z"].shape
        assert np.allclose(f["z"][:], ref["z"][:], atol=1e-5)
    assert _temporaries(tmpfs.path) == []


def test_full_disk_while_the_lock_is_taken_names_the_lock_file(demo, tmpfs):
    tmpfs.fill(0)
    proc = _run(["encode", "--model", demo.model_dir, "--dataset", "lfw", "--out", tmpfs.path / "z.h5"])
    assert proc.returncode == 2
    _assert_one_error_line(proc, "z.h5")
    assert _everything(tmpfs.path) == ["filler"]


@pytest.mark.parametrize("command, leave, target", [
    (["fragments", "{store}", "--out", "{disk}/fr"], 8192, "fr/fragments.h5"),
    (["report", "{store}", "--out", "{disk}/rep", "--quick", "--sections", "pca"], 8192, "rep/pca.npz"),
    (["export", "{store}", "--projector", "{disk}/p", "--parquet", "{disk}/z.parquet"], 8192, "p/tensors.tsv"),
    (["fit-region", "--z", "{store}", "--out", "{disk}/r.region"], 0, "r.region"),
    (["sample", "--z", "{store}", "--model", "{model}", "--out", "{disk}/s.png"], 16384, "s.png"),
], ids=["fragments", "report", "export", "fit-region", "sample"])
def test_full_disk_is_one_line_naming_the_path_and_leaves_no_temporary(demo, tmpfs, command, leave, target):
    args = [a.format(store=demo.store, model=demo.model_dir, disk=tmpfs.path) for a in command]
    tmpfs.fill(leave)
    proc = _run(args)
    assert proc.returncode == 2, proc.stderr[-3000:]
    _assert_one_error_line(proc, f"{tmpfs.path / target}: no space left on the device")
    assert _temporaries(tmpfs.path) == [], _everything(tmpfs.path)
    assert not (tmpfs.path / target).exists()


def test_read_only_file_system_is_one_line_and_changes_nothing(demo, tmpfs):
    region = tmpfs.path / "r.region"
    assert main(["fit-region", "--z", str(demo.store), "--out", str(region)]) == 0
    before = region.read_bytes()
    tmpfs.read_only()
    for args, needle in [
        (["fit-region", "--z", demo.store, "--out", region, "--overwrite"], str(tmpfs.path)),
        (["fragments", demo.store, "--out", tmpfs.path / "fr"], str(tmpfs.path)),
        (["encode", "--model", demo.model_dir, "--dataset", "lfw", "--out", tmpfs.path / "z.h5"], str(tmpfs.path)),
    ]:
        proc = _run(args)
        assert proc.returncode == 2, (args, proc.stderr[-3000:])
        _assert_one_error_line(proc, needle)
    assert region.read_bytes() == before and _everything(tmpfs.path) == ["r.region"]


# -- SIGTERM ------------------------------------------------------------------------------------------------


def test_sigterm_during_encode_exits_143_with_one_line_and_resumes(demo, tmp_path):
    """SIGTERM once the store exists (the writer holds its lock): 143, one line, no lock or temporary left."""
    out = tmp_path / "z.h5"
    proc = subprocess.Popen([*CLI, "encode", "--model", str(demo.model_dir), "--dataset", "fashion-mnist",
                             "--limit", "20000", "--batch-size", "64", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while not out.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        if not out.exists():
            pytest.skip(f"encode did not start (Fashion-MNIST missing?): {proc.communicate()[1][-500:]}")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-3000:]
    assert err.strip().splitlines()[-1] == "terminated (SIGTERM); resume with --resume", err[-3000:]
    assert "Traceback" not in err and [line for line in err.splitlines() if "terminated" in line or "error" in line] \
        == ["terminated (SIGTERM); resume with --resume"]
    assert _temporaries(tmp_path) == []
    with h5py.File(out, "r", swmr=True) as f:  # a consistent, incomplete store
        assert not bool(f.attrs["complete"]) and f["z"].shape[0] >= int(f.attrs["n"])


# Holds the command just before the rename of its finished temporary file, and says so on stdout.
_BLOCK_BEFORE_RENAME = """
import os, sys, time
real_replace = os.replace
def replace_after_a_wait(src, dst):
    if ".tmp." in os.fspath(src):
        print("writing", flush=True)   # the temporary file is complete: the parent sends SIGTERM
        time.sleep(600)
    real_replace(src, dst)
os.replace = replace_after_a_wait
from latentlab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_during_an_atomic_write_keeps_the_old_file_and_leaves_no_temporary(demo, tmp_path):
    region = tmp_path / "r.region"
    assert main(["fit-region", "--z", str(demo.store), "--out", str(region)]) == 0
    before = region.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", _BLOCK_BEFORE_RENAME, "fit-region", "--z", str(demo.store),
                             "--region", "ball", "--out", str(region), "--overwrite"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "writing" not in line:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read()
        assert any(".r.region.tmp." in name for name in os.listdir(tmp_path))  # caught mid-write
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143 and err == "terminated (SIGTERM)\n", err[-3000:]
    assert region.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["r.region"]


def test_stale_temporaries_of_dead_writers_are_swept(demo, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".r.region.tmp.{dead.pid}-abc123.region"
    live = tmp_path / f".r.region.tmp.{os.getpid()}-def456.region"  # a writer still running: kept
    foreign = tmp_path / ".r.region.tmp.unknown.region"  # no PID: not ours to judge
    for p in (stale, live, foreign):
        p.write_bytes(b"half a file")
    assert main(["fit-region", "--z", str(demo.store), "--out", str(tmp_path / "r.region")]) == 0
    assert not stale.exists() and live.exists() and foreign.exists()


# -- no silent replacement ----------------------------------------------------------------------------------


def test_image_outputs_are_never_replaced_without_overwrite(demo, tmp_path, capsys):
    ids = ["lfw_000", "lfw_001"]
    commands = {
        "sample": (["sample", "--z", demo.store, "--model", demo.model_dir, "--n", "4"], "sample_0.png"),
        "path": (["path", "--z", demo.store, "--model", demo.model_dir, "--steps", "3"], "path_0.png"),
        "interpolate": (["interpolate", "--z", demo.store, *ids, "--model", demo.model_dir, "--steps", "3"], "interp_0.png"),
        "reconstruct": (["reconstruct", "--z", demo.store, "--model", demo.model_dir, "--n", "2"], None),
    }
    for name, (args, image_name) in commands.items():
        args = [str(a) for a in args]
        out = tmp_path / f"{name}.png"
        out.write_bytes(b"keep me")
        assert main([*args, "--out", str(out)]) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "already exists (use --overwrite" in err and str(out) in err, (name, err)
        assert out.read_bytes() == b"keep me"
        if image_name is not None:
            folder = tmp_path / f"{name}-images"
            folder.mkdir()
            (folder / image_name).write_bytes(b"keep me too")
            fresh = tmp_path / f"{name}-new.png"
            assert main([*args, "--out", str(fresh), "--save-images", str(folder)]) == 2, name
            err = capsys.readouterr().err
            assert "--save-images" in err and image_name in err and err.count("\n") == 1, (name, err)
            assert (folder / image_name).read_bytes() == b"keep me too" and not fresh.exists()
            assert main([*args, "--out", str(out), "--save-images", str(folder), "--overwrite"]) == 0, name
            assert (folder / image_name).read_bytes()[:4] == b"\x89PNG"
        else:
            assert main([*args, "--out", str(out), "--overwrite"]) == 0, name
        assert out.read_bytes()[:4] == b"\x89PNG", name
        capsys.readouterr()


def test_compare_samplers_save_images_are_never_replaced_without_overwrite(demo, tmp_path, capsys):
    folder = tmp_path / "imgs"
    (folder / "cube").mkdir(parents=True)
    (folder / "cube" / "sample_0.png").write_bytes(b"keep me")
    args = ["compare-samplers", "--z", str(demo.store), "--model", str(demo.model_dir), "--regions", "cube",
            "--n", "10", "--n-boot", "0", "--save-images", str(folder), "--out", str(tmp_path / "cmp")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and err.count("\n") == 1
    assert (folder / "cube" / "sample_0.png").read_bytes() == b"keep me" and not (tmp_path / "cmp").exists()


# -- size limits before work --------------------------------------------------------------------------------


def test_a_million_samples_is_refused_before_the_model_loads(demo, tmp_path):
    from latentlab._checks import available_memory
    from latentlab.generate import images_memory_bytes

    need = images_memory_bytes(1_000_000, (32, 32, 1))
    if (available_memory() or 0) > need:
        pytest.skip(f"this machine has more than {need / 2**30:.0f} GiB available: a million samples fit")
    code = ("import sys\nfrom latentlab.cli import main\n"
            f"rc = main(['sample', '--z', {str(demo.store)!r}, '--model', {str(demo.model_dir)!r}, '--n', '1000000',"
            f" '--out', {str(tmp_path / 's.png')!r}])\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'the model was loaded'\n"
            "sys.exit(rc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = _assert_one_error_line(proc, "--n: 1,000,000 decoded 32×32×1 images")
    assert "GiB of memory" in line and proc.stderr.count("\n") == 1
    assert _everything(tmp_path) == []


def test_images_memory_estimate_matches_the_arrays_it_counts():
    from latentlab.generate import images_memory_bytes

    # 64 images of 32×32×1: decoded float32 (×2 with the concatenation) and a float32 copy, then the grid
    # at 3× enlargement (32 → 96 px): two repeats and the tiled canvas, each 9× the images.
    n, per_image = 64, 32 * 32 * 1 * 4
    assert images_memory_bytes(n, (32, 32, 1)) == n * per_image * (3 + 3 * 9)
    assert images_memory_bytes(n, (128, 128, 3)) == n * 128 * 128 * 3 * 4 * 6  # no enlargement


# -- attributes of any width --------------------------------------------------------------------------------


def test_a_wide_attribute_csv_gives_a_store_every_command_can_read(demo, tmp_path):
    from latentlab import open_store
    from latentlab.store._reader import MAX_CHUNK_BYTES

    n_columns = 20_000  # 16,384 rows × this many int8 columns was a 320 MiB chunk
    rng = np.random.default_rng(0)
    values = np.where(rng.random((100, n_columns)) < 0.5, 1, -1)
    csv_path = tmp_path / "wide.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", *[f"a{j}" for j in range(n_columns)]])
        for i in range(100):
            writer.writerow([f"lfw_{i:03d}", *values[i]])
    out = tmp_path / "wide.h5"
    assert main(["encode", "--model", str(demo.model_dir), "--dataset", "lfw", "--attributes", str(csv_path),
                 "--out", str(out)]) == 0
    with h5py.File(out, "r") as f:
        chunks = f["attributes"].chunks
        assert np.prod(chunks) * f["attributes"].dtype.itemsize <= MAX_CHUNK_BYTES
    with open_store(out) as store:
        assert store.attribute_names[:2] == ["a0", "a1"] and len(store.attribute_names) == n_columns
        assert np.array_equal(np.asarray(store.attributes[:], np.int64), values)
    assert main(["info", str(out)]) == 0
