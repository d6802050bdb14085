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
    """``latentlab info Z.h5 | head -1``: no traceback, no "Exception ignored"; exit 141 (128 + SIGPIPE) or 0."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run(
        f"{sys.executable} -m latentlab.cli info {small_store} | head -1; exit ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.stdout.startswith("store"), proc
    assert proc.stderr == "", proc.stderr
    assert proc.returncode in (0, 141)  # 0 when the pipe took all the output before head closed it


# ---------------------------------------------------------------------------- bad stores × store commands


def _bad_stores(root: Path) -> dict[str, Path]:
    """One file per way a z-store can be wrong (each small, built in milliseconds)."""
    import h5py

    root.mkdir(parents=True, exist_ok=True)
    made = {}

    def new(name):
        made[name] = root / f"{name}.h5"
        return made[name]

    new("missing")
    new("empty").write_bytes(b"")
    new("directory").mkdir()
    new("text").write_text("id,z0,z1\n0,1,2\n")
    good = root / "good.h5"
    write_store(good, np.random.default_rng(1).normal(size=(300, 8)))
    new("truncated").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    nan = np.random.default_rng(2).normal(size=(50, 8))
    nan[7, 3] = np.nan
    write_store(new("nan_rows"), nan)
    with h5py.File(new("no_z"), "w") as f:
        f["ids"] = np.array([b"a"])
    with h5py.File(new("int_z"), "w") as f:
        f["z"] = np.arange(40).reshape(10, 4)
    with h5py.File(new("one_d_z"), "w") as f:
        f["z"] = np.arange(10.0)
    victim = root / "victim.bin"
    victim.write_bytes(np.arange(64, dtype=np.float32).tobytes())
    with h5py.File(new("external_storage"), "w") as f:  # /z's bytes live in another file
        f.create_dataset("z", shape=(4, 4), dtype="f4", external=[(str(victim), 0, h5py.h5f.UNLIMITED)])
    with h5py.File(root / "other.h5", "w") as f:
        f["z"] = np.zeros((10, 4), np.float32)
    with h5py.File(new("external_link"), "w") as f:
        f["z"] = h5py.ExternalLink(str(root / "other.h5"), "/z")
    with h5py.File(new("virtual"), "w") as f:
        layout = h5py.VirtualLayout(shape=(10, 4), dtype="f4")
        layout[:] = h5py.VirtualSource(str(root / "other.h5"), "z", shape=(10, 4))
        f.create_virtual_dataset("z", layout)
    with h5py.File(new("huge_chunk"), "w") as f:  # a tiny file with one 16 MiB chunk (the test lowers the cap)
        f.create_dataset("z", data=np.zeros((100, 64), np.float32), maxshape=(None, 64), chunks=(1 << 16, 64),
                         compression="gzip")
    with h5py.File(new("huge_z_dim"), "w") as f:
        f.create_dataset("z", shape=(1, 200_000), dtype="f4", compression="gzip", chunks=(1, 50_000))
    return made


@pytest.fixture(scope="module")
def bad_stores(tmp_path_factory) -> dict[str, Path]:
    return _bad_stores(tmp_path_factory.mktemp("bad_stores"))


BAD_STORES = ["missing", "empty", "directory", "text", "truncated", "nan_rows", "no_z", "int_z", "one_d_z",
              "external_storage", "external_link", "virtual", "huge_chunk", "huge_z_dim"]
ANALYSES = ["info", "pca", "components", "correlations", "radii", "fragments"]


@pytest.mark.parametrize("kind", BAD_STORES)
@pytest.mark.parametrize("command", ANALYSES)
def test_bad_store_gives_one_line_and_writes_nothing(command, kind, bad_stores, tmp_path, capsys, monkeypatch):
    import latentlab.store._reader

    # the real cap (256 MiB) would take a 256 MiB chunk to exercise; the rule is the same at 8 MiB
    monkeypatch.setattr(latentlab.store._reader, "MAX_CHUNK_BYTES", 8 << 20)
    store = bad_stores[kind]
    out = tmp_path / "out"
    argv = [command, store] if command == "info" else [command, store, "--out", out]
    if command == "info" and kind == "nan_rows":
        argv.append("--check")  # the only case info reports (exit 1, documented)
        run_cli(argv, capsys, code=1, watch=[store.parent])
        return
    err = run_cli(argv, capsys, code=2, watch=[store.parent])
    assert err.startswith("error: ") and (store.name in err or str(store) in err), err
    assert not out.exists(), f"{command} created {out} for a bad store"


@pytest.mark.parametrize("kind", ["missing", "text", "external_storage", "huge_z_dim"])
@pytest.mark.parametrize("command", ["sample", "path", "reconstruct"])
def test_bad_store_for_model_commands(command, kind, bad_stores, demo, tmp_path, capsys):
    out = tmp_path / "grid.png"
    run_cli([command, "--z", bad_stores[kind], "--out", out, "--model", demo.model_dir], capsys,
            watch=[bad_stores[kind].parent, demo.model_dir])
    assert not out.exists()


# ---------------------------------------------------------------------------- bad option values


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cloud") / "cloud.h5"
    write_store(path, np.random.default_rng(3).normal(size=(200, 6)))
    return path


@pytest.mark.parametrize("options", [
    ["--halo-ratio", "nan"], ["--halo-ratio", "1"], ["--halo-ratio", "inf"], ["--min-fragment-size", "0"],
    ["--min-filament-size", "-1"], ["--k", "1"], ["--pca-variance", "nan"], ["--filament-threshold", "nan"],
])
def test_fragments_refuses_bad_numbers_before_computing(options, cloud, tmp_path, capsys):
    out = tmp_path / "frag"
    err = run_cli(["fragments", cloud, "--out", out, *options], capsys, watch=[cloud])
    assert not out.exists() and options[0].lstrip("-").replace("-", "_") in err.replace("-", "_"), err


@pytest.mark.parametrize("options", [["--n", "0"], ["--n", "-3"], ["--ncols", "0"]])
def test_sample_refuses_bad_counts(options, demo, tmp_path, capsys):
    out = tmp_path / "grid.png"
    run_cli(["sample", "--z", demo.store, "--model", demo.model_dir, "--out", out, *options], capsys,
            watch=[demo.store])
    assert not out.exists()


@pytest.mark.parametrize("options", [
    ["--lr", "nan"], ["--lr", "0"], ["--lr", "inf"], ["--epochs", "0"], ["--batch-size", "0"], ["--z-dim", "0"],
    ["--crop", "0,0"], ["--crop", "-5,10"], ["--limit", "0"], ["--image-size", "20"],
])
def test_train_refuses_bad_options_before_anything(options, tmp_path, capsys):
    out = tmp_path / "model"
    run_cli(["train", "--dataset", "lfw", "--out", out, *options], capsys)
    assert not out.exists()


@pytest.fixture()
def finished_store(demo, tmp_path) -> Path:
    import shutil

    path = tmp_path / "z.h5"
    shutil.copy(demo.store, path)
    return path


@pytest.mark.parametrize("options", [
    ["--overwrite", "--workers", "-1"], ["--overwrite", "--workers", "0"], ["--overwrite", "--crop", "0,0"],
    ["--overwrite", "--crop", "-5,10"], ["--overwrite", "--crop", "abc"], ["--overwrite", "--batch-size", "0"],
    ["--overwrite", "--limit", "-1"], ["--overwrite", "--shard", "3/2"], ["--resume", "--overwrite"], [],
])
def test_encode_never_touches_a_finished_store_on_bad_options(options, demo, finished_store, capsys):
    run_cli(["encode", "--model", demo.model_dir, "--dataset", "lfw", "--out", finished_store, "--quiet", *options],
            capsys, watch=[finished_store.parent, demo.model_dir])


@pytest.mark.parametrize("config", ["[]", '"text"', "{", '{"crop": "abc"}', '{"crop": [0, 0]}', '{"channels": 2}',
                                    '{"z_dim": -1}', '{"image_size": "big"}'])
def test_bad_model_config_is_one_line_and_no_store(config, demo, tmp_path, capsys):
    import json
    import shutil

    model = tmp_path / "model"
    shutil.copytree(demo.model_dir, model)
    cfg = model / "config.json"
    if config.startswith("{") and config != "{":
        cfg.write_text(json.dumps({**json.loads(cfg.read_text()), **json.loads(config)}))
    else:
        cfg.write_text(config)
    out = tmp_path / "z.h5"
    err = run_cli(["encode", "--model", model, "--dataset", "lfw", "--out", out, "--quiet"], capsys, watch=[model])
    assert "config.json" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no store, lock or temporary file


# ---------------------------------------------------------------------------- silent overwrites


def test_sample_save_z_never_replaces_a_store(demo, tmp_path, capsys):
    import shutil

    store = tmp_path / "z.h5"
    shutil.copy(demo.store, store)
    other = tmp_path / "other.h5"
    write_store(other, np.zeros((3, 16)))
    base = ["sample", "--z", store, "--model", demo.model_dir, "--out", tmp_path / "grid.png", "--n", "4"]
    err = run_cli([*base, "--save-z", store], capsys, watch=[tmp_path])
    assert "input store" in err
    err = run_cli([*base, "--save-z", store, "--overwrite"], capsys, watch=[tmp_path])
    err = run_cli([*base, "--save-z", other], capsys, watch=[tmp_path])
    assert "--overwrite" in err
    assert main([str(a) for a in [*base, "--save-z", other, "--overwrite"]]) == 0
    from latentlab import open_store

    with open_store(other) as s:
        assert s.n == 4


def test_demo_never_replaces_an_existing_demo(tmp_path, capsys):
    out = tmp_path / "demo"
    (out / "model").mkdir(parents=True)
    (out / "model" / "config.json").write_text("{}")
    (out / "z.h5").write_bytes(b"precious")
    err = run_cli(["demo", "--out", out, "--quick"], capsys, watch=[out])
    assert "--overwrite" in err


# ---------------------------------------------------------------------------- outputs that cannot be written


@pytest.mark.parametrize("command", ["pca", "components", "radii", "correlations", "fragments", "report"])
def test_out_that_is_a_file_is_refused(command, cloud, tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("not a directory")
    err = run_cli([command, cloud, "--out", out], capsys, watch=[tmp_path])
    assert str(out) in err


def test_out_below_a_file_is_refused(cloud, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    err = run_cli(["pca", cloud, "--out", blocker / "sub"], capsys, watch=[tmp_path])
    assert str(blocker) in err


def test_sample_out_that_is_a_directory_is_refused(demo, tmp_path, capsys):
    run_cli(["sample", "--z", demo.store, "--model", demo.model_dir, "--out", tmp_path], capsys, watch=[tmp_path])


def test_full_disk_keeps_the_previous_result(cloud, tmp_path, monkeypatch, capsys):
    """ENOSPC while writing: one line naming the file, the previous pca.json byte-identical, no temp file left."""
    import latentlab._io

    out = tmp_path / "out"
    assert main(["pca", str(cloud), "--out", str(out)]) == 0
    capsys.readouterr()
    before = _snapshot(out)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(latentlab._io.os, "fsync", full)
    err = run_cli(["pca", cloud, "--out", out], capsys, watch=[out])
    assert "no space left" in err
    assert _snapshot(out) == before and not [p for p in out.iterdir() if ".tmp" in p.name]


def test_read_only_output_is_one_line(cloud, tmp_path, monkeypatch, capsys):
    import tempfile

    out = tmp_path / "out"
    assert main(["pca", str(cloud), "--out", str(out)]) == 0
    capsys.readouterr()

    def read_only(*args, dir=None, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dir))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    err = run_cli(["pca", cloud, "--out", out], capsys, watch=[out])
    assert "read-only" in err and str(out) in err


# ---------------------------------------------------------------------------- symlinks, bombs


def test_lock_file_symlink_is_not_followed(tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    store = tmp_path / "z.h5"
    (tmp_path / "z.h5.lock").symlink_to(victim)
    from latentlab import LatentlabError

    with pytest.raises(LatentlabError, match="symbolic link"):
        write_store(store, np.zeros((3, 2)))
    assert victim.read_text() == "keep me" and not store.exists()


def test_npz_zip_bomb_is_refused_before_inflating(tmp_path, capsys):
    import zipfile

    bomb = tmp_path / "bomb.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1, 1, 1), np.uint8))
    header["shape"] = (3000, 1, 1000, 1000)  # 3 GB declared
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("data.npy", "w", force_zip64=True) as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(bytes(1 << 20))  # the header promises 3 GB; the check must not need more than the header
    import resource

    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    from latentlab.sources import NpzSource
    from latentlab import LatentlabError

    with pytest.raises(LatentlabError, match="zip bomb|memory"):
        NpzSource(bomb)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 200_000  # KiB: nothing inflated


def test_png_decompression_bomb_is_skipped(tmp_path, monkeypatch):
    from PIL import Image

    import latentlab.sources._base
    from latentlab.sources import Preprocessing
    from latentlab.sources._base import UndecodableImage, decode_file

    # the rule at a smaller scale: a 2 Mpx PNG of a few KB against a 1 Mpx per-image limit
    monkeypatch.setattr(latentlab.sources._base, "MAX_DECODED_PIXELS", 1_000_000)
    bomb = tmp_path / "bomb.png"
    Image.new("L", (2_000, 1_000)).save(bomb)
    limit_before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(UndecodableImage, match="too large"):
        decode_file(bomb, Preprocessing(32, 1))
    assert Image.MAX_IMAGE_PIXELS == limit_before  # Pillow's process-wide limit is left alone


def test_sixteen_bit_png_is_scaled_with_integers(tmp_path):
    from PIL import Image

    from latentlab.sources import Preprocessing
    from latentlab.sources._base import decode_file

    arr = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)  # mode I;16
    out = decode_file(path, Preprocessing(64, 1))
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255


# ---------------------------------------------------------------------------- end to end (subprocess)


def test_reproducers_end_to_end(demo, tmp_path):
    """A few of the issue's reproducers exactly as a user types them: one line, exit 2, nothing lost."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    import shutil

    store = tmp_path / "z.h5"
    shutil.copy(demo.store, store)
    before = _snapshot(tmp_path)
    cases = [
        ["encode", "--model", str(demo.model_dir), "--dataset", "lfw", "--out", str(store), "--overwrite",
         "--workers", "-1", "--quiet"],
        ["fragments", str(store), "--halo-ratio", "nan", "--out", str(tmp_path / "f")],
        ["sample", "--z", str(store), "--model", str(demo.model_dir), "--out", str(tmp_path / "g.png"),
         "--save-z", str(store)],
    ]
    for argv in cases:
        proc = subprocess.run([sys.executable, "-m", "latentlab.cli", *argv], capture_output=True, text=True,
                              env=env, timeout=300)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert _snapshot(tmp_path) == before


# ---------------------------------------------------------------------------- rank-0 data, stale results


@pytest.mark.parametrize("rows", [np.ones((50, 4)), np.ones((1, 4))], ids=["constant", "one_row"])
def test_correlations_on_rank_zero_data_is_one_line(rows, tmp_path, capsys):
    store = tmp_path / "flat.h5"
    write_store(store, rows)
    err = run_cli(["correlations", store, "--out", tmp_path / "out"], capsys, watch=[store])
    assert str(store) in err and not (tmp_path / "out").exists()


def test_cached_fragments_are_used_only_for_their_own_store(tmp_path, capsys):
    from latentlab.analysis._fragments import fragments_match
    from latentlab.metrics._compare import find_fragments as find_fragments_file

    a, b = tmp_path / "a" / "z.h5", tmp_path / "b" / "z.h5"
    for path, seed in ((a, 5), (b, 6)):
        path.parent.mkdir()
        write_store(path, np.random.default_rng(seed).normal(size=(120, 4)))
    assert main(["fragments", str(a), "--out", str(a.parent), "--no-figures"]) == 0
    capsys.readouterr()
    h5 = a.parent / "fragments.h5"
    assert fragments_match(h5, a) and not fragments_match(h5, b)
    assert not fragments_match(h5, a, partition="train") and not fragments_match(h5, a, options={"k": 7})
    assert find_fragments_file(a) == h5
    # b's folder holds a's result under b's name: compare-samplers must not pick it up
    import shutil

    shutil.copy(h5, b.parent / "fragments.h5")
    assert find_fragments_file(b) is None
    write_store(a, np.random.default_rng(7).normal(size=(120, 4)), overwrite=True)  # a re-encoded
    assert not fragments_match(h5, a)


def test_cached_fragments_from_older_code_are_recomputed(tmp_path, capsys):
    # a fragments.h5 whose recorded result version differs (older code, other hierarchy) is never reused
    import json

    import h5py

    from latentlab.analysis._fragments import fragments_match

    store = tmp_path / "z.h5"
    write_store(store, np.random.default_rng(5).normal(size=(120, 4)))
    assert main(["fragments", str(store), "--out", str(tmp_path), "--no-figures"]) == 0
    capsys.readouterr()
    h5 = tmp_path / "fragments.h5"
    assert fragments_match(h5, store)
    with h5py.File(h5, "r+") as f:
        summary = json.loads(f.attrs["summary_json"])
        del summary["parameters"]["result_version"]
        f.attrs["summary_json"] = json.dumps(summary)
    assert not fragments_match(h5, store)


def test_train_overwrite_leaves_no_stale_previews_or_cache(tmp_path, monkeypatch, capsys):
    import latentlab.model._train

    monkeypatch.setattr(latentlab.model._train, "_IN_MEMORY_LIMIT", 1)  # use the on-disk cache
    out = tmp_path / "model"
    base = ["train", "--dataset", "lfw", "--out", out, "--image-size", "16", "--channels", "1", "--z-dim", "2",
            "--filters", "2,2,2,2", "--limit", "20", "--batch-size", "10"]
    assert main([str(a) for a in [*base, "--epochs", "2"]]) == 0
    assert sorted(p.name for p in (out / "previews").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert not (out / "cache").exists()
    run_cli([*base, "--epochs", "1"], capsys, watch=[out])  # refused: a model is there
    assert main([str(a) for a in [*base, "--epochs", "1", "--overwrite"]]) == 0
    assert sorted(p.name for p in (out / "previews").iterdir()) == ["epoch_001.png"]
    assert not (out / "cache").exists()
    capsys.readouterr()
