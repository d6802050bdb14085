"""Files written by someone else are data, never code.

Hostile and broken region files, ``.keras`` models, attribute CSVs and ``.npz`` image arrays, each crafted the
way a careless or malicious colleague's file looks: every one is refused with one ``error:`` line and exit 2,
nothing is written outside ``--out`` (nor ``--out`` itself), and nothing existing changes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from latentlab import LatentlabError, write_store
from latentlab.cli import main
from latentlab.regions import fit_region, load_region, save_region

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


# ------------------------------------------------------------------------------------------------ helpers
def _store(tmp_path, n=300, d=4, seed=0, name="z.h5"):
    Z = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return write_store(tmp_path / name, Z)


def _members(path) -> tuple[dict, dict, dict]:
    """(region.json, arrays, other members) of a region file."""
    with zipfile.ZipFile(path) as zf:
        doc = json.loads(zf.read("region.json"))
        with np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        others = {n: zf.read(n) for n in zf.namelist() if n not in ("region.json", "arrays.npz")}
    return doc, arrays, others


def _write_region(path, doc, arrays, others=(), *, raw_arrays: bytes | None = None, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("region.json", json.dumps(doc) if not isinstance(doc, (bytes, str)) else doc)
        zf.writestr("arrays.npz", buf.getvalue() if raw_arrays is None else raw_arrays)
        for name, data in dict(others).items():
            zf.writestr(name, data)
    return path


def _cli(argv, capsys, code=2) -> str:
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert rc == code, captured.err
    assert len(lines) == 1 and lines[0].startswith("error: ") and "internal error" not in lines[0], captured.err
    return lines[0]


def _snapshot(*dirs) -> dict:
    return {p: p.read_bytes() for d in dirs for p in sorted(Path(d).rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------ region files: traversal
def _traversal_names(victim: Path, planted: Path) -> list[str]:
    up = "../" * 12
    return [str(victim), up + str(victim).lstrip("/"), str(planted), up + str(planted).lstrip("/"),
            "sub/../../x.keras", "flow_.keras/../../" + planted.name]


def test_region_member_names_never_choose_a_path(tmp_path, capsys):
    """The audit's critical finding: ``{"keras": NAME}`` was joined onto a temporary directory and written."""
    store = _store(tmp_path)
    good = save_region(fit_region("mnd", store), tmp_path / "good.region")
    doc, arrays, _ = _members(good)
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    planted = tmp_path / "site-packages" / "evil.pth"
    planted.parent.mkdir()
    for i, name in enumerate(_traversal_names(victim, planted)):
        bad_doc = json.loads(json.dumps(doc))
        bad_doc["state"]["flow_"] = {"keras": name}
        bad = _write_region(tmp_path / f"bad{i}.region", bad_doc, arrays, {name: b"import os; os.system('touch PWNED')\n"})
        with pytest.raises(LatentlabError):
            load_region(bad, store=store)
        out = tmp_path / f"cmp{i}"
        line = _cli(["compare-samplers", "--z", store, "--latent-only", "--n", "20", "--region-file", bad,
                     "--out", out], capsys)
        assert str(bad) in line
        assert victim.read_text() == "original" and not planted.exists() and not out.exists()
        assert not list(tmp_path.rglob("PWNED")) and not (Path.cwd() / "PWNED").exists()


def test_region_model_member_is_loaded_in_safe_mode(tmp_path):
    """A ``.keras`` member with a Lambda layer (Python bytecode) is refused, not run."""
    keras = pytest.importorskip("keras")
    store = _store(tmp_path)
    good = save_region(fit_region("mnd", store), tmp_path / "good.region")
    doc, arrays, _ = _members(good)
    marker = tmp_path / "ran.txt"
    inp = keras.Input((2,))
    out = keras.layers.Lambda(lambda x: x * 2.0)(inp)  # noqa: PLW0108 - a Lambda is the point
    model = keras.Model(inp, out)
    model_path = tmp_path / "lambda.keras"
    model.save(model_path)
    doc["state"]["flow_"] = {"keras": "model_0.keras"}
    bad = _write_region(tmp_path / "lambda.region", doc, arrays, {"model_0.keras": model_path.read_bytes()})
    with pytest.raises(LatentlabError, match="cannot be loaded safely"):
        load_region(bad, store=store)
    assert not marker.exists()


# ------------------------------------------------------------------------- region files: schema as data
def _set(key, value):
    def mutate(doc, arrays):
        doc["state"][key] = value
    return mutate


def _array(key, value):
    def mutate(doc, arrays):
        arrays[key] = value
    return mutate


def _nested(depth):
    enc = {"value": 1}
    for _ in range(depth):
        enc = {"list": [enc]}
    return enc


REGION_DEFECTS = {
    # (mutation of (doc, arrays), a word the one-line message must contain)
    "json is a list": (lambda doc, arrays: [doc], "not a latentlab region file"),
    "params is a list": (lambda doc, arrays: {**doc, "params": []}, "params must be an object"),
    "state is a list": (lambda doc, arrays: {**doc, "state": [1]}, "state must be an object"),
    "version is text": (lambda doc, arrays: {**doc, "version": "1"}, "version"),
    "unknown class": (lambda doc, arrays: {**doc, "class": "os.system"}, "unknown region class"),
    "unknown parameter": (lambda doc, arrays: {**doc, "params": {"evil": 1}}, "takes no parameter"),
    "parameter out of range": (lambda doc, arrays: {**doc, "params": {"reg_covar": -1}}, "reg_covar"),
    "parameter NaN as text": (lambda doc, arrays: {**doc, "params": {"reg_covar": "nan"}}, "reg_covar"),
    "missing array": (lambda doc, arrays: [arrays.pop("mean_"), None][1], "names no array"),
    "array named by a path": (_set("mean_", {"array": "../../etc/passwd"}), "names no array"),
    "object array": (_array("mean_", np.array([object()] * 4, dtype=object)), "Python objects"),
    "complex array": (_array("mean_", np.zeros(4) + 1j), "real"),
    "string array": (_array("mean_", np.array(["a", "b", "c", "d"])), "real"),
    "integer array": (_array("mean_", np.arange(4)), "floating-point"),
    "NaN in the state": (_array("mean_", np.array([0.0, np.nan, 0.0, 0.0])), "NaN"),
    "Inf in the state": (_array("cholesky_", np.diag([1.0, np.inf, 1.0, 1.0])), "NaN or Inf"),
    "shape off z_dim": (_array("mean_", np.zeros(5)), "shape"),
    "z_dim zero": (_set("n_features_in_", {"value": 0}), "n_features_in_"),
    "not a Cholesky factor": (_array("cholesky_", np.ones((4, 4))), "lower triangular"),
    "dunder attribute": (_set("__class__", {"value": 1}), "__class__"),
    "method attribute": (_set("sample", {"value": 1}), "sample"),
    "unknown attribute": (_set("evil_", {"value": 1}), "evil_"),
    "missing attribute": (lambda doc, arrays: [doc["state"].pop("cholesky_"), None][1], "cholesky_: is missing"),
    "entry not an object": (_set("mean_", 5), "expected one of"),
    "bogus dtype": (_set("mean_", {"array": "mean_", "dtype": "object"}), "dtype"),
    "nesting too deep": (_set("mean_", _nested(50)), "nested"),
}


@pytest.fixture(scope="module")
def mnd_file(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mnd")
    store = _store(tmp)
    return store, save_region(fit_region("mnd", store), tmp / "good.region")


@pytest.mark.parametrize("defect", list(REGION_DEFECTS))
def test_broken_region_files_are_one_line_and_exit_2(defect, mnd_file, tmp_path, capsys):
    store, good = mnd_file
    doc, arrays, _ = _members(good)
    mutate, word = REGION_DEFECTS[defect]
    doc = mutate(doc, arrays) or doc
    bad = _write_region(tmp_path / "bad.region", doc, arrays)
    with pytest.raises(LatentlabError, match="bad.region") as info:
        load_region(bad, store=store)
    assert word in str(info.value) and "\n" not in str(info.value)
    out = tmp_path / "cmp"
    line = _cli(["compare-samplers", "--z", store, "--latent-only", "--n", "20", "--region-file", bad, "--out", out],
                capsys)
    assert word in line and not out.exists()


def test_deeply_nested_json_and_odd_members(mnd_file, tmp_path, capsys):
    store, good = mnd_file
    doc, arrays, _ = _members(good)
    cases = {
        "deep.region": dict(doc="[" * 100_000 + "]" * 100_000),
        "member.region": dict(doc=doc, others={"../evil.txt": b"x"}),
        "many.region": dict(doc=doc, others={f"m{i}.keras": b"" for i in range(80)}),
        "npz.region": dict(doc=doc, raw_arrays=b"not a zip"),
    }
    for name, kwargs in cases.items():
        bad = _write_region(tmp_path / name, arrays=arrays, **kwargs)
        with pytest.raises(LatentlabError, match=name):
            load_region(bad, store=store)
        _cli(["compare-samplers", "--z", store, "--latent-only", "--region-file", bad, "--out", tmp_path / "o"], capsys)
    assert not (tmp_path / "o").exists() and not (tmp_path / "evil.txt").exists()


# ------------------------------------------------------------------------------------- zip bombs
def _deflated_zeros(n_bytes: int, chunk: int = 1 << 20) -> tuple[bytes, int]:
    """A raw deflate stream of ``n_bytes`` zeros (~1,000x smaller) and its CRC, built from one repeated block."""
    import zlib

    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(bytes(chunk)) + comp.flush(zlib.Z_FULL_FLUSH)  # byte-aligned, no back-references across
    crc, zeros = 0, bytes(chunk)
    for _ in range(n_bytes // chunk):
        crc = zlib.crc32(zeros, crc)
    return block * (n_bytes // chunk) + zlib.compressobj(9, zlib.DEFLATED, -15).flush(), crc


def _zip_raw(path, members) -> Path:
    """A zip written byte by byte: members are (name, bytes) stored, or (name, (deflated, crc, size)) deflated."""
    import struct
    import zlib

    central = []
    with open(path, "wb") as out:
        for name, data in members:
            nb = name.encode()
            comp, crc, size, method = (*data, 8) if isinstance(data, tuple) else (data, zlib.crc32(data), len(data), 0)
            offset = out.tell()
            out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(comp), size, len(nb), 0))
            out.write(nb + comp)
            central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(comp),
                                       size, len(nb), 0, 0, 0, 0, 0, offset) + nb)
        start = out.tell()
        for entry in central:
            out.write(entry)
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - start, start, 0))
    return Path(path)


def _peak_rss_growth_mb(code: str) -> tuple[float, str]:
    """Run ``code`` in a fresh interpreter; return (growth of its peak RSS in MB, its output)."""
    script = textwrap.dedent("""
        import resource, sys
        import latentlab.regions
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
        {code}
            print("NOT REFUSED")
        except Exception as exc:
            print(type(exc).__name__, str(exc))
        print("GROWTH_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """).format(code=textwrap.indent(textwrap.dedent(code), "    "))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    growth = int(proc.stdout.split("GROWTH_KB")[-1].split()[0]) / 1024
    return growth, proc.stdout


@pytest.fixture(scope="module")
def bomb_2gib():
    return _deflated_zeros(2 << 30)


def test_region_file_zip_bomb_is_refused_with_bounded_memory(mnd_file, bomb_2gib, tmp_path, capsys):
    """A 2 MB region file whose arrays.npz inflates to 2 GiB: refused from the zip header, memory flat."""
    store, good = mnd_file
    with zipfile.ZipFile(good) as zf:
        header = zf.read("region.json")
    bomb = _zip_raw(tmp_path / "bomb.region", [("region.json", header), ("arrays.npz", (*bomb_2gib, 2 << 30))])
    assert bomb.stat().st_size < 3 << 20
    with zipfile.ZipFile(bomb) as zf:  # a real archive: the stdlib would inflate all 2 GiB
        assert zf.getinfo("arrays.npz").file_size == 2 << 30 and zf.testzip() is None
    growth, out = _peak_rss_growth_mb(f"latentlab.regions.load_region({str(bomb)!r})")
    assert "LatentlabError" in out and "zip bomb" in out, out
    assert growth < 100, f"peak RSS grew {growth:.0f} MB"
    line = _cli(["compare-samplers", "--z", store, "--latent-only", "--region-file", bomb, "--out", tmp_path / "o"],
                capsys)
    assert "refused before inflating" in line and not (tmp_path / "o").exists()


def test_inner_npz_bomb_and_a_lying_header_are_refused(mnd_file, tmp_path):
    """The bomb one level down (inside arrays.npz), and a member whose header claims fewer bytes than it inflates to."""
    store, good = mnd_file
    with zipfile.ZipFile(good) as zf:
        header = zf.read("region.json")
    comp, crc = _deflated_zeros(256 << 20)
    comp_inner = _zip_raw(tmp_path / "inner.npz", [("mean_.npy", (comp, crc, 256 << 20))]).read_bytes()
    bomb = _zip_raw(tmp_path / "inner.region", [("region.json", header), ("arrays.npz", comp_inner)])
    with pytest.raises(LatentlabError, match="zip bomb"):
        load_region(bomb, store=store)
    # header says 1 KiB, the stream inflates to 256 MiB: the bounded reader stops at the declared size
    liar = _zip_raw(tmp_path / "liar.region", [("region.json", header), ("arrays.npz", (comp, crc, 1024))])
    with pytest.raises(LatentlabError, match="liar.region"):
        load_region(liar, store=store)


# ------------------------------------------------------------------- region parameter values (issue item 4)
BAD_PARAMS = [
    ("planes", ["pairs=[[0,1.5]]"], "pairs"),
    ("planes", ['pairs=[["a","b"]]'], "pairs"),
    ("planes", ["pairs=[0,1]"], "pairs"),
    ("planes", ["pairs=[]"], "pairs"),
    ("planes", ["pairs=[[0,9]]"], "invalid pair"),
    ("gmm", ["random_state=4294967296"], "random_state"),
    ("kde", ["random_state=4294967296"], "random_state"),
    ("cluster-ellipsoid", ["random_state=-1"], "random_state"),
    ("gmm", ["n_components=auto", 'components_grid=["a"]'], "components_grid"),
    ("cluster-ellipsoid", ["n_clusters=auto", "clusters_grid=[]"], "clusters_grid"),
    ("ellipsoid", ["sigma=1e308"], "radius_"),
]


@pytest.mark.parametrize("region,params,word", BAD_PARAMS)
def test_bad_region_parameters_are_one_line_before_anything_is_written(region, params, word, tmp_path, capsys):
    store = _store(tmp_path)
    out = tmp_path / "r.region"
    line = _cli(["fit-region", "--z", store, "--region", region, *sum([["--param", p] for p in params], []),
                 "--out", out], capsys)
    assert word in line and not out.exists()


def test_gmm_on_duplicate_rows_with_no_regularisation_is_one_line(tmp_path, capsys):
    Z = np.repeat(np.random.default_rng(0).normal(size=(3, 4)), 100, axis=0).astype(np.float32)
    store = write_store(tmp_path / "dup.h5", Z)
    for region in ("gmm", "bgmm"):
        line = _cli(["fit-region", "--z", store, "--region", region, "--param", "reg_covar=0",
                     "--out", tmp_path / "r.region"], capsys)
        assert "reg_covar" in line and not (tmp_path / "r.region").exists()


@pytest.mark.parametrize("name,param", [("cube", {"b": 1e308}), ("normal", {"scale": 1e308}),
                                        ("kde", {"bandwidth": 1e308}), ("normal-fitted", {"scale": 1e308})])
def test_scale_like_parameters_that_overflow_never_give_nan_points(name, param):
    from latentlab.regions import make_region

    Z = np.random.default_rng(0).normal(size=(200, 4))
    region = make_region(name, **param).fit(Z)
    with pytest.raises(LatentlabError, match="too large for float64"):
        region.sample(10, random_state=0)


def test_bad_seed_is_refused_before_the_model_loads(tmp_path, capsys):
    store = _store(tmp_path)
    missing_model = tmp_path / "no-model"  # never reached: the seed is checked first
    line = _cli(["sample", "--z", store, "--model", missing_model, "--seed", "-1", "--out", tmp_path / "s.png"], capsys)
    assert "--seed" in line and not (tmp_path / "s.png").exists()
    line = _cli(["compare-samplers", "--z", store, "--latent-only", "--seed", "-1", "--out", tmp_path / "c"], capsys)
    assert "--seed" in line and not (tmp_path / "c").exists()
    from latentlab.regions import make_region

    with pytest.raises(LatentlabError, match="random_state"):
        make_region("mnd").fit(np.random.default_rng(0).normal(size=(50, 3))).sample(2, random_state=-1)


def test_nan_region_file_through_sample_writes_no_png(demo, tmp_path, capsys):
    """A region file fitted on the demo store whose mean is NaN: refused at load, before the model, no PNG."""
    good = save_region(fit_region("mnd", demo.store), tmp_path / "good.region")
    doc, arrays, _ = _members(good)
    arrays["mean_"] = np.full_like(arrays["mean_"], np.nan)
    bad = _write_region(tmp_path / "nan.region", doc, arrays)
    for cmd in (["sample", "--n", "4"], ["path", "--steps", "3"]):
        out = tmp_path / f"{cmd[0]}.png"
        line = _cli([*cmd, "--z", demo.store, "--model", demo.model_dir, "--region-file", bad, "--out", out], capsys)
        assert "NaN" in line and not out.exists()


@pytest.mark.parametrize("method", ["fit", "contains", "score_samples"])
def test_complex_sparse_and_object_input_is_refused_with_sklearns_messages(method):
    import scipy.sparse

    from latentlab.regions import make_region

    Z = np.random.default_rng(0).normal(size=(100, 3))
    region = make_region("ellipsoid").fit(Z)
    call = region.fit if method == "fit" else getattr(region, method)
    for bad, message in [(Z + 1j, "Complex data not supported"),
                         (scipy.sparse.csr_matrix(Z), "Sparse data was passed"),
                         (np.array([["a", "b", "c"]] * 5, dtype=object), "could not convert"),
                         (np.array([[object()] * 3] * 5, dtype=object), "argument must be")]:
        with pytest.raises(LatentlabError, match=message):
            call(bad)


# ------------------------------------------------------------------------------------ .keras models
def _lambda_model(path):
    keras = pytest.importorskip("keras")
    inp = keras.Input((16,))
    out = keras.layers.Lambda(lambda z: z * 2.0)(inp)  # noqa: PLW0108 - pickled bytecode is the point
    keras.Model(inp, out).save(path)
    return path


def test_keras_model_with_a_lambda_layer_is_refused(tmp_path, capsys):
    from latentlab._errors import ModelError
    from latentlab.model._io import _load_keras

    store = _store(tmp_path, d=16)
    model = _lambda_model(tmp_path / "lambda.keras")
    with pytest.raises(ModelError, match="lambda.keras"):
        _load_keras(model)
    before = _snapshot(tmp_path)
    line = _cli(["sample", "--z", store, "--encoder", model, "--decoder", model, "--region", "mnd", "--n", "2",
                 "--out", tmp_path / "s.png"], capsys)
    assert "lambda.keras" in line and _snapshot(tmp_path) == before


def test_keras_zip_bomb_is_refused_before_keras_inflates_it(bomb_2gib, tmp_path, capsys):
    from latentlab._errors import ModelError
    from latentlab.model._io import _load_keras

    bomb = _zip_raw(tmp_path / "bomb.keras", [("metadata.json", b"{}"), ("config.json", (*bomb_2gib, 2 << 30))])
    with pytest.raises(ModelError, match="zip bomb"):
        _load_keras(bomb)
    many = _zip_raw(tmp_path / "many.keras", [(f"m{i}", b"") for i in range(1_500)])
    with pytest.raises(ModelError, match="1,500 members"):
        _load_keras(many)


# ------------------------------------------------------------------------------------ attribute CSVs
def _encode_with(csv, demo, out):
    return ["encode", "--model", demo.model_dir, "--dataset", "lfw", "--limit", "3", "--attributes", csv, "--out", out,
            "-q"]


def test_hostile_attribute_csvs_are_one_line(tmp_path):
    from latentlab._errors import DataSourceError
    from latentlab.sources import read_attributes_csv

    huge = tmp_path / "huge.csv"
    with open(huge, "wb") as fh:  # sparse: 1.5 GiB on paper, no disk used; refused from its size, never read
        fh.truncate(3 << 29)
    wide = tmp_path / "wide.csv"
    wide.write_text("id," + ",".join(f"c{i}" for i in range(70_000)) + "\na" + ",1" * 70_000 + "\n")
    newline = tmp_path / "newline.csv"
    newline.write_text('"i\nd",x\na,1\n')
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    for path, word in [(huge, "MiB"), (wide, "columns"), (newline, "no id column"), (binary, "UTF-8"),
                       (fifo, "not a regular file")]:
        with pytest.raises(DataSourceError, match=word) as info:
            read_attributes_csv(path, id_column="id")
        assert "\n" not in str(info.value)


def test_hostile_csv_through_encode_writes_nothing(demo, tmp_path, capsys):
    huge = tmp_path / "huge.csv"
    with open(huge, "wb") as fh:
        fh.truncate(3 << 29)
    out = tmp_path / "z.h5"
    line = _cli(_encode_with(huge, demo, out), capsys)
    assert "huge.csv" in line and sorted(p.name for p in tmp_path.iterdir()) == ["huge.csv"]


# ------------------------------------------------------------------------------------ npz image arrays
def test_hostile_npz_image_files_are_one_line(bomb_2gib, tmp_path):
    from latentlab._errors import DataSourceError
    from latentlab.sources import NpzSource

    images = np.zeros((4, 8, 8, 1), np.uint8)
    np.savez(tmp_path / "objects.npz", data=np.array([{"a": 1}] * 4, dtype=object))
    np.savez(tmp_path / "complex.npz", data=images + 1j)
    np.savez(tmp_path / "pickled_ids.npz", data=images, ids=np.array([object()] * 4, dtype=object))
    np.savez(tmp_path / "many.npz", data=images, **{f"x{i}": np.zeros(1) for i in range(100)})
    (tmp_path / "text.npz").write_text("not a zip")
    _zip_raw(tmp_path / "bomb.npz", [("data.npy", (*bomb_2gib, 2 << 30))])
    for name, word in [("objects", "Python objects"), ("complex", "dtype"), ("pickled_ids", "Python objects"),
                       ("many", "members"), ("text", "not a .npz file"), ("bomb", "zip bomb")]:
        with pytest.raises(DataSourceError, match=word) as info:
            NpzSource(tmp_path / f"{name}.npz")
        assert "\n" not in str(info.value) and f"{name}.npz" in str(info.value)


# ------------------------------------------------------------------------------ random damage (hypothesis)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_FUZZ = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                     max_leaves=8)


@pytest.fixture(scope="module")
def planes_file(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planes")
    store = _store(tmp)
    return store, save_region(fit_region("planes", store, axes="original"), tmp / "planes.region")


@_FUZZ
@given(where=st.sampled_from(["state", "params", "root"]), key_index=st.integers(0, 40), value=_JSON)
def test_any_json_value_anywhere_loads_or_is_one_line(planes_file, tmp_path, where, key_index, value):
    store, good = planes_file
    doc, arrays, _ = _members(good)
    target = doc if where == "root" else doc[where]
    keys = sorted(target)
    target[keys[key_index % len(keys)]] = value if where != "state" else (value if key_index % 2 else {"value": value})
    bad = _write_region(tmp_path / "fuzz.region", doc, arrays)
    try:
        region = load_region(bad)
    except LatentlabError as exc:
        assert "\n" not in str(exc) and "fuzz.region" in str(exc)
    else:
        assert np.isfinite(region.sample(3, random_state=0)).all()


@_FUZZ
@given(offset=st.floats(0, 1, exclude_max=True), data=st.binary(min_size=1, max_size=16))
def test_any_bytes_overwritten_load_or_are_one_line(planes_file, tmp_path, offset, data):
    _, good = planes_file
    raw = bytearray(good.read_bytes())
    at = int(offset * len(raw))
    raw[at:at + len(data)] = data
    bad = tmp_path / "bytes.region"
    bad.write_bytes(bytes(raw))
    try:
        region = load_region(bad)
    except LatentlabError as exc:
        assert "\n" not in str(exc)
    else:
        assert np.isfinite(region.sample(3, random_state=0)).all()


# -------------------------------------------------------------------------- every region's schema holds
def test_every_registered_region_declares_its_fitted_state():
    from latentlab.regions import REGIONS

    for name, (cls, _) in REGIONS.items():
        assert isinstance(cls.__dict__.get("_fitted_schema", getattr(cls, "_fitted_schema", None)), dict), name


@pytest.mark.parametrize("name", ["ball", "normal", "bgmm", "fragment", "ellipsoid-axis", "planes-all"])
def test_regions_not_round_tripped_elsewhere_save_and_load(name, tmp_path):
    from latentlab.regions import make_region

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(300, 4))
    if name == "fragment":
        region = make_region("fragment:ellipsoid").fit(Z, labels=(Z[:, 0] > 0).astype(int))
    elif name.endswith("-axis"):
        region = make_region("ellipsoid", bound="axis").fit(Z)
    elif name.endswith("-all"):
        region = make_region("planes", pairs="all", n_axes=3).fit(Z)
    else:
        region = make_region(name, **({"n_components": 2} if name == "bgmm" else {})).fit(Z)
    back = load_region(save_region(region, tmp_path / "r.region"))
    np.testing.assert_array_equal(back.sample(20, random_state=1), region.sample(20, random_state=1))
    np.testing.assert_allclose(back.score_samples(Z[:10]), region.score_samples(Z[:10]))


# ------------------------------------------------------------------------------------- fragments files
@pytest.mark.parametrize("defect", ["external-storage", "external-link", "too-many-labels"])
def test_hostile_fragments_files_are_one_line(defect, tmp_path, capsys):
    import h5py

    store = _store(tmp_path)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(300, dtype=np.int32).tobytes())
    frag = tmp_path / "fragments.h5"
    with h5py.File(frag, "w") as f:
        if defect == "external-storage":  # raw bytes of another file presented as the labels
            f.create_dataset("fragment", shape=(300,), dtype=np.int32, external=[(str(secret), 0, 1200)])
        elif defect == "external-link":
            with h5py.File(tmp_path / "other.h5", "w") as g:
                g["fragment"] = np.zeros(300, np.int32)
            f["fragment"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/fragment")
        else:
            f["fragment"] = np.zeros(10_000, np.int32)
    out = tmp_path / "cmp"
    line = _cli(["compare-samplers", "--z", store, "--out", out, "--latent-only", "--n", "100", "--regions", "fragment",
                 "--fragments", frag], capsys)
    assert str(frag) in line and not out.exists()
