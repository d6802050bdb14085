"""Bad files and arguments through the real CLI: one line on stderr, exit code 2, nothing written."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import typer

from latentlab import StoreWriter, write_store
from latentlab.cli import app, main


def _store_commands() -> dict[str, object]:
    """Every command that reads a z-store (positional STORE or --z), found from the CLI itself."""
    group = typer.main.get_command(app)
    found = {}
    for name, cmd in group.commands.items():
        params = {p.name for p in cmd.params}
        if name not in ("info", "merge") and ({"store", "z"} & params):
            found[name] = cmd
    return found


STORE_COMMANDS = sorted(_store_commands())


def _argv(name: str, store, out, model) -> list[str]:
    cmd = _store_commands()[name]
    params = {p.name: p for p in cmd.params}
    argv = [name]
    if "store" in params:
        argv.append(str(store))
    else:
        argv += ["--z", str(store)]
    if "id_a" in params:
        argv += ["0", "1"]
    if "out" in params:
        argv += ["--out", str(out)]
    if "model" in params:
        argv += ["--model", str(model)]
    return argv


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: "), err
    return err


def _files_under(path) -> list[str]:
    return [str(p) for p in path.rglob("*") if p.is_file()] if path.exists() else []


def test_store_commands_are_found():
    assert {"pca", "components", "correlations", "radii", "report", "fragments"} <= set(STORE_COMMANDS)


@pytest.fixture(scope="module")
def incomplete_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("incomplete") / "z.h5"
    w = StoreWriter(path, 16)
    w.append(np.random.default_rng(0).normal(size=(50, 16)), [str(i) for i in range(50)])
    w.close(complete=False)
    return path


@pytest.mark.parametrize("name", STORE_COMMANDS)
def test_every_analysis_refuses_an_incomplete_store(name, incomplete_store, demo, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(_argv(name, incomplete_store, out, demo.model_dir))
    err = _one_line_error(capsys)
    assert rc == 2 and "incomplete" in err and str(incomplete_store) in err
    assert _files_under(out) == [] and _files_under(incomplete_store.parent / "z_analysis") == []


def _not_hdf5(path):
    path.write_text("hello, not HDF5")


def _no_z(path):
    with h5py.File(path, "w") as f:
        f["ids"] = np.array([b"a"])


def _int_z(path):
    with h5py.File(path, "w") as f:
        f["z"] = np.zeros((10, 16), dtype="i4")


def _rank1_z(path):
    with h5py.File(path, "w") as f:
        f["z"] = np.zeros(10, dtype="f4")


def _truncated(path):
    src = path.with_name("full.h5")
    write_store(src, np.random.default_rng(0).normal(size=(200, 16)))
    path.write_bytes(src.read_bytes()[:3000])
    src.unlink()


def _nan_rows(path):
    z = np.random.default_rng(0).normal(size=(100, 16))
    z[7, 3] = np.nan
    z[42] = np.inf
    write_store(path, z, [f"img{i:03d}" for i in range(100)])


BAD_STORES = {
    "not-hdf5": (_not_hdf5, "not an HDF5 file"),
    "no-z": (_no_z, "no /z dataset"),
    "int-z": (_int_z, "must hold floats"),
    "rank-1-z": (_rank1_z, "must be 2-D"),
    "truncated": (_truncated, "truncated"),
    "nan-rows": (_nan_rows, "NaN or Inf"),
}


@pytest.mark.parametrize("name", ["pca", "components", "radii", "fragments", *[c for c in STORE_COMMANDS if c in ("sample", "reconstruct")]])
@pytest.mark.parametrize("case", sorted(BAD_STORES))
def test_bad_stores_give_one_line_and_exit_2(name, case, demo, tmp_path, capsys):
    make, message = BAD_STORES[case]
    store = tmp_path / "bad.h5"
    make(store)
    before = store.read_bytes()
    out = tmp_path / "out"
    rc = main(_argv(name, store, out, demo.model_dir))
    err = _one_line_error(capsys)
    assert rc == 2 and message in err and str(store) in err, err
    assert _files_under(out) == [] and _files_under(tmp_path / "bad_analysis") == []
    assert store.read_bytes() == before


def test_info_check_lists_nan_rows_with_ids(tmp_path, capsys):
    store = tmp_path / "nan.h5"
    _nan_rows(store)
    assert main(["info", str(store)]) == 0  # describing does not read /z
    capsys.readouterr()
    assert main(["info", str(store), "--check"]) == 1
    out = capsys.readouterr().out
    line = [x for x in out.splitlines() if x.startswith("non-finite")][0]
    assert "2 row(s): img007, img042" in line
    for case in ("not-hdf5", "no-z", "truncated"):
        bad = tmp_path / f"{case}.h5"
        BAD_STORES[case][0](bad)
        assert main(["info", str(bad)]) == 2
        assert BAD_STORES[case][1] in _one_line_error(capsys)


def test_model_z_dim_differs_from_the_store(demo, tmp_path, capsys):
    store = write_store(tmp_path / "z8.h5", np.random.default_rng(0).normal(size=(40, 8)))
    names = [c for c in STORE_COMMANDS if c in ("reconstruct", "sample", "interpolate", "path")]
    assert names, "no command decodes stored points"
    for name in names:
        out = tmp_path / f"out_{name}"
        rc = main(_argv(name, store, out, demo.model_dir))
        err = _one_line_error(capsys)
        assert rc == 2 and "z_dim" in err, (name, err)
        assert _files_under(out) == []


def test_source_and_model_problems(demo, celeba_dir, tmp_path, capsys):
    model = str(demo.model_dir)
    # missing list file for --partition
    bare = tmp_path / "bare"
    shutil.copytree(celeba_dir / "img_align_celeba", bare / "img_align_celeba")
    out = tmp_path / "a.h5"
    assert main(["encode", "--model", model, "--data", str(bare), "--partition", "train", "--out", str(out), "-q"]) == 2
    assert "list_eval_partition.txt" in _one_line_error(capsys)
    assert main(["train", "--data", str(bare), "--partition", "train", "--out", str(tmp_path / "m")]) == 2
    assert "list_eval_partition.txt" in _one_line_error(capsys)
    # a partition file naming missing images
    (bare / "list_eval_partition.txt").write_text("000001.jpg 0\n999999.jpg 1\n")
    assert main(["encode", "--model", model, "--data", str(bare), "--out", str(out), "-q"]) == 2
    err = _one_line_error(capsys)
    assert "list_eval_partition.txt" in err and "999999.jpg" in err
    # a malformed attribute file
    (bare / "list_eval_partition.txt").unlink()
    (bare / "list_attr_celeba.txt").write_text("2\nSmiling Male\n000001.jpg 1 7\n000002.jpg 1 -1\n")
    assert main(["encode", "--model", model, "--data", str(bare), "--out", str(out), "-q"]) == 2
    assert "list_attr_celeba.txt:3" in _one_line_error(capsys)
    assert not out.exists() and not (tmp_path / "m").exists()
    # a model directory missing a file
    for missing in ("config.json", "encoder.keras", "decoder.keras"):
        broken = tmp_path / f"model_without_{missing}"
        shutil.copytree(demo.model_dir, broken)
        (broken / missing).unlink()
        assert main(["encode", "--model", str(broken), "--dataset", "lfw", "--out", str(out), "-q"]) == 2
        err = _one_line_error(capsys)
        assert missing in err and str(broken) in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith((".lock", ".tmp"))] == []


@pytest.mark.parametrize("name", STORE_COMMANDS)
def test_every_store_command_offers_allow_incomplete(name):
    assert "allow_incomplete" in {p.name for p in _store_commands()[name].params}


@pytest.mark.parametrize("name", ["pca", "components", "correlations", "radii", "fragments"])
def test_allow_incomplete_analyses_the_written_prefix(name, incomplete_store, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main([*_argv(name, incomplete_store, out, None), "--allow-incomplete"])
    assert rc == 0, capsys.readouterr().err
    assert _files_under(out)
