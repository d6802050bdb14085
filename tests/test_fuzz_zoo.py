"""The fuzz zoo: bad inputs × the CLI commands that take them.

Every case runs the real CLI (in-process through :func:`latentlab.cli.main`,
a few end to end as a subprocess) and asserts the promise of
docs/reliability.md: the documented exit code (2 for bad input), at most
two lines on stderr, no traceback, and every file that existed before is
byte-identical after.
"""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from latentlab import write_store
from latentlab.cli import main

# ---------------------------------------------------------------------------- helpers


def _snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every regular file under ``roots`` (symlinks by their target text)."""
    digests = {}
    for root in roots:
        root = Path(root)
        paths = [root] if root.is_file() or root.is_symlink() else (root.rglob("*") if root.exists() else [])
        for p in paths:
            if p.is_symlink():
                digests[str(p)] = "link:" + os.readlink(p)
            elif p.is_file():
                digests[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return digests


def run_cli(argv: list[str], capsys, *, code: int | tuple[int, ...] = 2, watch=()) -> str:
    """Run ``latentlab argv`` in-process; assert the exit code, ≤ 2 stderr lines, no traceback, nothing changed."""
    before = _snapshot(*watch)
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    codes = code if isinstance(code, tuple) else (code,)
    assert rc in codes, f"exit {rc} (want {codes}) for {argv}: {err}"
    assert "Traceback" not in err, err
    assert len(err.splitlines()) <= 2, err
    after = _snapshot(*watch)
    changed = {p for p in before if before[p] != after.get(p)}
    assert not changed, f"{argv} changed or removed {sorted(changed)}"
    return err


@pytest.fixture()
def small_store(tmp_path) -> Path:
    path = tmp_path / "z.h5"
    write_store(path, np.random.default_rng(0).normal(size=(120, 8)).astype(np.float32))
    return path


# ---------------------------------------------------------------------------- the top-level handler


def test_unexpected_error_is_one_line_asking_for_a_report(monkeypatch, small_store, capsys):
    import latentlab.store

    def boom(*args, **kwargs):
        raise RuntimeError("something internal\nsecond line")

    monkeypatch.setattr(latentlab.store, "open_store", boom)
    monkeypatch.delenv("LATENTLAB_DEBUG", raising=False)
    err = run_cli(["info", small_store], capsys, code=1)
    assert "please report" in err and "RuntimeError: something internal" in err and "info" in err

    monkeypatch.setenv("LATENTLAB_DEBUG", "1")
    assert main(["info", str(small_store)]) == 1
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.delenv("LATENTLAB_DEBUG")
    assert main(["--debug", "info", str(small_store)]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.parametrize("number, word", [
    (errno.ENOSPC, "no space left"), (errno.EROFS, "read-only"), (errno.EACCES, "permission denied"),
    (errno.ENOTDIR, "not a directory"), (errno.EEXIST, "already exists"),
])
def test_os_errors_are_one_line_naming_the_path(monkeypatch, small_store, capsys, number, word):
    import latentlab.store

    def fail(*args, **kwargs):
        raise OSError(number, os.strerror(number), "/some/where/out.json")

    monkeypatch.setattr(latentlab.store, "open_store", fail)
    err = run_cli(["info", small_store], capsys, code=2)
    assert err.startswith("error: /some/where/out.json: ") and word in err, err


def test_memory_error_says_the_size_asked_for(monkeypatch, small_store, capsys):
    import latentlab.store

    def fail(*args, **kwargs):
        raise MemoryError("Unable to allocate 3.00 GiB for an array with shape (1000000, 800) and data type float32")

    monkeypatch.setattr(latentlab.store, "open_store", fail)
    err = run_cli(["info", small_store], capsys, code=2)
    assert "out of memory" in err and "3.00 GiB" in err


@pytest.mark.parametrize("command, hint", [("encode", True), ("info", False)])
def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, small_store, tmp_path, capsys, command, hint):
    import latentlab.encoding
    import latentlab.store

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(latentlab.store, "open_store", interrupt)
    monkeypatch.setattr(latentlab.encoding, "encode", interrupt)
    argv = ["info", small_store] if command == "info" else ["encode", "--out", tmp_path / "z.h5", "--quiet"]
    err = run_cli(argv, capsys, code=130)
    assert err.startswith("interrupted")
    assert ("resume with --resume" in err) == hint


def test_usage_errors_and_help_keep_their_codes(capsys):
    assert main(["--help"]) == 0
    assert main(["pca", "--no-such-option"]) == 2
    assert main(["no-such-command"]) == 2
    capsys.readouterr()


def test_broken_pipe_exits_quietly(small_store):
    """``latentlab info Z.h5 | head -1``: no traceback, no "Exception ignored", exit 141 (128 + SIGPIPE)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run(
        f"{sys.executable} -m latentlab.cli info {small_store} | head -1; exit ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.stdout.startswith("store"), proc
    assert proc.stderr == "", proc.stderr
    assert proc.returncode == 141
