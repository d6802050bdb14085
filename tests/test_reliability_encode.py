"""Interrupted encodes: SIGKILL at random moments and at every step of the writer, resume, concurrency.

Two kinds of real subprocesses are killed:

* ``latentlab encode`` itself (the CLI, TensorFlow model), killed with SIGKILL at random
  moments chosen from a seeded generator while a reader in this process watches the file;
* a small child that runs :func:`latentlab.encoding.encode` with a NumPy stand-in encoder (so
  it starts in a second, not ten) and SIGKILLs itself at a chosen step of the writer: between
  the data rows and ``/ids``, while recording skipped images, while copying the prefix of a
  resume, just before the rename, while setting ``complete``, after it.

After each kill the store must open (``allow_incomplete``), hold a valid prefix of the rows
of an uninterrupted run, and ``--resume`` must finish it into exactly that run.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from latentlab import StoreError, open_store
from latentlab._errors import LatentlabError
from latentlab.cli import main
from latentlab.encoding import encode

CHILD = r'''
"""Encode with a NumPy stand-in model and SIGKILL this process at a chosen step."""
import os, signal, sys, time
import numpy as np


class FakeAE:
    """A deterministic linear 'encoder' on 16x16 grey pixels (no TensorFlow)."""
    z_dim, image_size, channels = 6, 16, 1
    config = {"crop": [178, 178]}
    source, sha256 = "numpy-stand-in", "0" * 64
    _w = np.random.default_rng(0).normal(size=(256, 6)).astype(np.float32) / 16

    def encode_batch(self, images):
        x = images.reshape(len(images), -1).astype(np.float32) / 255.0
        return x @ self._w


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point, out):
    import h5py
    from latentlab.store import _writer

    name, _, k = point.partition(":")
    k = int(k or 1)
    calls = [0]

    def nth():
        calls[0] += 1
        return calls[0] == k

    if name in ("commit", "skipped"):        # data rows (or reasons) flushed, the committing length not yet
        target = "/ids" if name == "commit" else "/skipped/path"
        resize = h5py.Dataset.resize
        def f(self, *a, **kw):
            if self.name == target and nth():
                die()
            return resize(self, *a, **kw)
        h5py.Dataset.resize = f
    elif name == "copy":                     # resume: first block copied into the temporary file
        write = _writer.StoreWriter._write_rows
        def f(self, *a):
            write(self, *a)
            if self._file.filename.endswith(".tmp") and nth():
                die()
        _writer.StoreWriter._write_rows = f
    elif name == "publish":                  # temporary file built and in SWMR mode, not yet renamed
        replace = os.replace
        def f(src, dst):
            if str(src).endswith(".tmp") and nth():
                die()
            return replace(src, dst)
        os.replace = f
    elif name == "complete":                 # every row flushed; `complete` about to be set
        setitem = h5py.AttributeManager.__setitem__
        def f(self, key, value):
            if key == "complete" and value is True:
                die()
            return setitem(self, key, value)
        h5py.AttributeManager.__setitem__ = f
    elif name == "closed":                   # `complete` set and flushed; file not yet closed
        flush = h5py.File.flush
        def f(self):
            flush(self)
            if self.attrs.get("complete") is np.True_ or self.attrs.get("complete") is True:
                die()
        h5py.File.flush = f
    elif name == "pause":                    # after k committed blocks: signal and wait to be killed
        append = _writer.StoreWriter.append
        def f(self, *a, **kw):
            append(self, *a, **kw)
            if nth():
                open(out + ".paused", "w").close()
                time.sleep(120)
        _writer.StoreWriter.append = f
    else:
        raise SystemExit(f"unknown point {point}")


if __name__ == "__main__":
    point, data, out, resume = sys.argv[1:5]
    arm(point, out)
    import latentlab.encoding as E
    E._WriteBehind.max_rows = 8  # commit every batch, so kills land between many commits
    E.encode(autoencoder=FakeAE(), data=data, dataset="celeba", out=out, batch_size=8, resume=resume == "1",
             workers=1, distribute=False)
    sys.exit(3)  # reaching here means the kill point was never hit
'''

#: The real CLI; rows are committed every 16 instead of every 4,096 (or a whole /z chunk), and
#: each commit is held back 15 ms, so that a 400-image encode has many commits for the kills to
#: land between however fast the machine encodes.
CLI = [sys.executable, "-c", "import sys, time, latentlab.encoding as e; e._WriteBehind.max_rows = 16; "
       "w = e._WriteBehind._write; e._WriteBehind._write = lambda self, k: (time.sleep(0.015), w(self, k))[1]; "
       "from latentlab.cli import main; sys.exit(main(sys.argv[1:]))"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}


def _snapshot(path, **kw) -> dict:
    with open_store(path, **kw) as s:
        return {
            "ids": list(s.read_ids()), "z": s.read_z(), "complete": s.complete,
            "partition": None if s.partition is None else s.partition[:],
            "attributes": None if s.attributes is None else s.attributes[:],
            "skipped": s.skipped(), "n_attr": s.attrs.get("n"),
        }


def _assert_prefix(snap: dict, ref: dict) -> None:
    """The rows of ``snap`` are the first rows of the reference run, bit for bit (z within 1e-6)."""
    n = len(snap["ids"])
    assert snap["ids"] == ref["ids"][:n]
    np.testing.assert_allclose(snap["z"], ref["z"][:n], rtol=0, atol=1e-6)
    for key in ("partition", "attributes"):
        if ref[key] is not None:
            np.testing.assert_array_equal(snap[key], ref[key][:n])


def _assert_same_store(snap: dict, ref: dict) -> None:
    assert snap["complete"] and snap["ids"] == ref["ids"]
    _assert_prefix(snap, ref)
    assert snap["skipped"] == ref["skipped"] and snap["n_attr"] == len(ref["ids"])


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.") or p.name == out.name + ".lock")


# -- fixtures ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def child(tmp_path_factory):
    path = tmp_path_factory.mktemp("child") / "crash_child.py"
    path.write_text(CHILD)
    spec = importlib.util.spec_from_file_location("crash_child", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.path = path
    return module


@pytest.fixture(scope="module")
def small_layout(tmp_path_factory):
    """120 CelebA-layout faces, two of them undecodable (still listed in both list files)."""
    from latentlab.sources import make_celeba_layout

    root = make_celeba_layout(tmp_path_factory.mktemp("small") / "celeba", n=120)
    (root / "img_align_celeba" / "000005.jpg").write_bytes(b"")
    (root / "img_align_celeba" / "000050.jpg").write_text("not a jpeg")
    return root


@pytest.fixture(scope="module")
def small_ref(child, small_layout, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.h5"
    encode(autoencoder=child.FakeAE(), data=small_layout, dataset="celeba", out=out, batch_size=8, workers=1, distribute=False)
    ref = _snapshot(out)
    assert len(ref["ids"]) == 118 and [p for p, _ in ref["skipped"]] == ["000005.jpg", "000050.jpg"]
    return ref


def _run_child(child, point, data, out, resume):
    return subprocess.run([sys.executable, str(child.path), point, str(data), str(out), "1" if resume else "0"],
                          env=ENV, capture_output=True, timeout=120)


# -- kills at every step of the writer ----------------------------------------------
@pytest.mark.parametrize(
    "points",
    [
        ["commit:3"],                 # between a block's /z and its /ids
        ["skipped:1"],                # between /skipped/reason and /skipped/path
        ["publish:1"],                # new file built, not yet renamed into place
        ["commit:2", "copy:1"],       # then again during the prefix copy of the resume
        ["commit:4", "publish:1"],    # resume copy done, not yet renamed
        ["commit:6", "complete:1"],   # every row written, `complete` not yet set
        ["closed:1"],                 # `complete` set, file not closed
    ],
    ids=lambda p: "+".join(p),
)
def test_kill_at_each_writer_step_then_resume(child, small_layout, small_ref, tmp_path, points):
    out = tmp_path / "z.h5"
    for i, point in enumerate(points):
        proc = _run_child(child, point, small_layout, out, resume=i > 0)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
        if not out.exists():
            assert point == "publish:1" and i == 0  # nothing published yet: no store at all
            continue
        snap = _snapshot(out, allow_incomplete=True)
        _assert_prefix(snap, small_ref)
        if snap["complete"]:
            assert point == "closed:1"
            _assert_same_store(snap, small_ref)
        else:
            with pytest.raises(StoreError, match="incomplete"):
                open_store(out)
            if point == "complete:1":
                assert snap["ids"] == small_ref["ids"]  # all rows there, only the flag missing
    # a stale lock (dead PID) and stale temporary files are taken over / removed
    result = encode(autoencoder=child.FakeAE(), data=small_layout, dataset="celeba", out=out, batch_size=8,
                    resume=True, workers=1, distribute=False)
    assert result.n_rows == 118
    _assert_same_store(_snapshot(out), small_ref)
    assert _leftovers(out) == []


# -- random SIGKILLs of the real CLI ----------------------------------------------------
@pytest.fixture(scope="module")
def faces400(tmp_path_factory):
    from latentlab.sources import make_celeba_layout

    return make_celeba_layout(tmp_path_factory.mktemp("faces400") / "celeba", n=400)


def test_random_sigkills_of_latentlab_encode_then_resume(demo, faces400, tmp_path, capsys):
    args = ["encode", "--model", str(demo.model_dir), "--data", str(faces400), "--dataset", "celeba",
            "--batch-size", "16", "-q"]
    ref_path = tmp_path / "ref.h5"
    assert main(args + ["--out", str(ref_path)]) == 0
    ref = _snapshot(ref_path)
    assert len(ref["ids"]) == 400

    out = tmp_path / "z.h5"
    rng = np.random.default_rng(20240611)
    kills, snapshots, n = 0, 0, 0
    for round_ in range(6):
        if n + 16 >= 400 - 64:
            break
        proc = subprocess.Popen(CLI + args + ["--out", str(out)] + (["--resume"] if round_ else []),
                                env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        target = int(rng.integers(n + 16, 400 - 64))
        # Synchronised on the store's committed row count, not on timing: once the child holds the
        # writer's lock it runs in short slices (SIGCONT ... SIGSTOP) and the count is read while it is
        # stopped, so the kill always lands at least 64 images before the end, at whatever instruction
        # the slice ended on.
        seen, polls = n, 0
        deadline = time.monotonic() + 300
        lock = Path(str(out) + ".lock")
        # the start-up (imports, model load) runs free: no row is written before the writer holds the lock
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                if lock.read_text() == str(proc.pid):
                    break
            except OSError:
                pass
            time.sleep(0.01)
        proc.send_signal(signal.SIGSTOP)
        while time.monotonic() < deadline:
            proc.send_signal(signal.SIGCONT)
            time.sleep(float(rng.uniform(0.001, 0.01)))
            proc.send_signal(signal.SIGSTOP)
            if proc.poll() is not None:
                break
            try:
                # a reader in another process than the writer: always a consistent prefix
                snap = _snapshot(out, allow_incomplete=True) if polls % 10 == 0 else None
                if snap is not None:
                    _assert_prefix(snap, ref)
                    snapshots += 1
                    seen = len(snap["ids"])
                else:
                    with open_store(out, allow_incomplete=True) as s:
                        seen = s.n
            except StoreError as exc:
                assert "no such file" in str(exc), exc
            polls += 1
            if seen >= target:
                break
        ended_early = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)  # also on a failure below: never leave a stopped child behind
        assert not ended_early, f"the encode ended before row {target}: {proc.stderr.read().decode()[-2000:]}"
        assert seen >= target, f"no row {target} within the deadline (saw {seen})"
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
        snap = _snapshot(out, allow_incomplete=True)
        _assert_prefix(snap, ref)
        assert not snap["complete"] and len(snap["ids"]) >= target
        n = len(snap["ids"])
        kills += 1
        if kills == 3:
            break
    assert kills == 3 and snapshots >= 2, (kills, snapshots)
    capsys.readouterr()
    assert main(args + ["--out", str(out), "--resume"]) == 0
    assert "400 rows" in capsys.readouterr().out
    final = _snapshot(out)
    _assert_same_store(final, ref)  # same ids, same order, z within 1e-6
    assert _leftovers(out) == []


# -- concurrency ------------------------------------------------------------------------
def test_reader_sees_prefix_and_second_writer_is_refused(child, demo, small_layout, small_ref, tmp_path, capsys):
    out = tmp_path / "z.h5"
    proc = subprocess.Popen([sys.executable, str(child.path), "pause:3", str(small_layout), str(out), "0"], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not Path(str(out) + ".paused").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        # the writer is alive, in SWMR mode, with 3 committed blocks
        snap = _snapshot(out, allow_incomplete=True)
        assert not snap["complete"] and len(snap["ids"]) >= 3 * 8 - 1
        _assert_prefix(snap, small_ref)
        import h5py  # plain h5py sees the same (SWMR reader)

        with h5py.File(out, "r", libver="latest", swmr=True) as f:
            assert f["ids"].shape[0] == len(snap["ids"]) and not f.attrs["complete"]
        # a second encode into the same path is refused by the lock, whatever the flags
        assert (Path(str(out) + ".lock")).read_text() == str(proc.pid)
        capsys.readouterr()
        for flag in ("--resume", "--overwrite"):
            rc = main(["encode", "--model", str(demo.model_dir), "--data", str(small_layout), "--out", str(out),
                       flag, "-q"])
            err = capsys.readouterr().err.strip()
            assert rc == 2 and len(err.splitlines()) == 1, err
            assert err.startswith("error: ") and "another process is writing" in err and str(proc.pid) in err
        with pytest.raises(StoreError, match="another process is writing"):
            encode(autoencoder=child.FakeAE(), data=small_layout, dataset="celeba", out=out, resume=True, distribute=False)
    finally:
        proc.kill()
        proc.wait()
    # the writer died holding the lock: the next writer takes it over and finishes the store
    encode(autoencoder=child.FakeAE(), data=small_layout, dataset="celeba", out=out, batch_size=8, resume=True, workers=1, distribute=False)
    _assert_same_store(_snapshot(out), small_ref)
    assert _leftovers(out) == []


def test_existing_output_is_never_overwritten_silently(child, small_layout, small_ref, tmp_path, capsys):
    out = tmp_path / "z.h5"
    proc = _run_child(child, "commit:2", small_layout, out, resume=False)
    assert proc.returncode == -signal.SIGKILL
    before = out.read_bytes()
    with pytest.raises(LatentlabError, match="already exists"):
        encode(autoencoder=child.FakeAE(), data=small_layout, dataset="celeba", out=out, distribute=False)
    assert out.read_bytes() == before
    rc = main(["encode", "--data", str(small_layout), "--out", str(out), "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "already exists" in err and len(err.splitlines()) == 1
    assert out.read_bytes() == before
    # resuming with a different model is refused: z from two models never mix in one store
    other = child.FakeAE()
    other.sha256 = "1" * 64
    with pytest.raises(StoreError, match="model_sha256"):
        encode(autoencoder=other, data=small_layout, dataset="celeba", out=out, resume=True, distribute=False)
    assert out.read_bytes() == before
    # --overwrite replaces it
    encode(autoencoder=child.FakeAE(), data=small_layout, dataset="celeba", out=out, batch_size=8, overwrite=True, distribute=False)
    _assert_same_store(_snapshot(out), small_ref)
