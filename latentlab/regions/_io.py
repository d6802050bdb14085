"""Fit once, sample many: a fitted region saved to a ``.region`` file and loaded back.

The file is a zip archive with no pickled objects:

``region.json``
    format and version, the registry name, the class (looked up in the region
    registry on load, never imported by name), the parameters, the store the
    region was fitted on (path, ``fingerprint``, partition, rows) and the fitted
    state: JSON values, or references to the arrays and models below;
``arrays.npz``
    the fitted arrays (``allow_pickle=False``); float64 arrays that came from the
    float32 store are kept as float32 and restored as float64, bit for bit;
``*.keras``
    a learned prior's Keras model, when the region has one.

:func:`load_region` refuses a file fitted on another store (fingerprint mismatch).
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import zipfile
from pathlib import Path

import numpy as np

from .._errors import LatentlabError
from .._io import atomic_path, dumps_json
from .._zipsafe import ZipLimits, close_zip, memory_bytes, open_zip, read_member, read_npy
from ._base import BaseRegion
from ._state import StateError, validate_state

__all__ = ["REGION_FORMAT", "check_region_store", "load_region", "region_file_info", "save_region"]

REGION_FORMAT = "latentlab-region"
_VERSION = 1


def _is_keras_model(value) -> bool:
    return type(value).__module__.startswith(("keras", "tensorflow")) and hasattr(value, "save")


def _json_value(value):
    if value is None or isinstance(value, (str, bool, int, float)) and not isinstance(value, np.generic):
        return True
    if isinstance(value, (list, tuple)):
        return all(_json_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_value(v) for k, v in value.items())
    return False


class _Writer:
    def __init__(self):
        self.arrays, self.models = {}, {}

    def region(self, region: BaseRegion, prefix: str) -> dict:
        from ._registry import region_name

        state = {}
        transient = set(getattr(region, "_transient", ()))
        params = set(region.get_params(deep=False))
        for key, value in vars(region).items():
            if key in transient or key in params:
                continue
            state[key] = self.value(value, f"{prefix}{key}")
        return {"class": type(region).__name__, "region": region_name(region),
                "params": json.loads(dumps_json(region.get_params(deep=False), indent=None)), "state": state}

    def value(self, value, key: str) -> dict:
        if isinstance(value, BaseRegion):
            return {"region": self.region(value, f"{key}/")}
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, BaseRegion) for v in value):
            return {"regions": [self.region(v, f"{key}/{i}/") for i, v in enumerate(value)]}
        if _is_keras_model(value):
            name = f"model_{len(self.models)}.keras"  # the writer's own name, never derived from data
            self.models[name] = value
            return {"keras": name}
        if isinstance(value, (np.ndarray, np.generic, float)):
            arr = np.asarray(value)
            with np.errstate(over="ignore"):  # a value beyond float32 simply stays float64
                exact32 = arr.dtype == np.float64 and np.array_equal(arr.astype(np.float32), arr, equal_nan=True)
            if exact32:
                self.arrays[key] = arr.astype(np.float32)
                return {"array": key, "dtype": "float64"}
            self.arrays[key] = arr
            return {"array": key}
        if _json_value(value):
            return {"value": list(value) if isinstance(value, tuple) else value}
        if isinstance(value, (list, tuple)):
            return {"list": [self.value(v, f"{key}/{i}") for i, v in enumerate(value)]}
        raise LatentlabError(f"cannot save fitted attribute {key!r} of type {type(value).__name__}")


def save_region(region: BaseRegion, path, *, overwrite: bool = False) -> Path:
    """Write a fitted region to ``path`` (a ``.region`` zip; see the module docstring).

    Raises
    ------
    LatentlabError
        The region is not fitted, or ``path`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from latentlab.regions import make_region
    >>> r = make_region("mnd").fit(np.random.default_rng(0).normal(size=(100, 3)))
    >>> p = save_region(r, pathlib.Path(tempfile.mkdtemp()) / "r.region")
    >>> np.array_equal(load_region(p).sample(5, random_state=1), r.sample(5, random_state=1))
    True
    """
    region._check_fitted()
    path = Path(path)
    if path.exists() and not overwrite:
        raise LatentlabError(f"{path}: already exists (use --overwrite to replace it)")
    from .. import __version__

    writer = _Writer()
    doc = {"format": REGION_FORMAT, "version": _VERSION, "latentlab_version": __version__,
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "store": getattr(region, "fit_store_", None), **writer.region(region, "")}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr("region.json", dumps_json(doc, indent=1))
            buf = io.BytesIO()
            np.savez(buf, **writer.arrays)
            zf.writestr("arrays.npz", buf.getvalue())
            if writer.models:
                import tempfile

                with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
                    for name, model in writer.models.items():
                        model.save(os.path.join(scratch, name))
                        zf.write(os.path.join(scratch, name), name)
    return path


#: The members a region file may hold: the header, the arrays, and models named by the writer's own scheme.
_JSON, _ARRAYS = "region.json", "arrays.npz"
#: A model member's name: what :meth:`_Writer.value` makes of an attribute path (never a path on disk).
_MODEL_MEMBER = re.compile(r"[A-Za-z0-9_]{1,120}\.keras")
#: A fitted attribute's name (``mean_``, ``_chols``): never a dunder, never a method.
_STATE_KEY = re.compile(r"_?[a-z][a-z0-9_]{0,80}")
#: Largest region.json read (a 1,500-ellipsoid cluster region's header is a few MB).
_MAX_JSON_BYTES = 64 << 20
#: Regions nest (fragment -> cluster-ellipsoid -> ellipsoids); deeper is not a file latentlab wrote.
_MAX_DEPTH = 6


def _region_limits() -> ZipLimits:
    half = memory_bytes() // 2
    return ZipLimits(max_members=64, max_member_bytes=half, max_total_bytes=half)


def _array_limits() -> ZipLimits:
    half = memory_bytes() // 2
    # a cluster region saves a few arrays per ellipsoid (1,500 ellipsoids on Fashion-MNIST)
    return ZipLimits(max_members=200_000, max_member_bytes=half, max_total_bytes=half)


def _model_limits() -> ZipLimits:
    half = memory_bytes() // 2
    return ZipLimits(max_members=1_000, max_member_bytes=half, max_total_bytes=half)


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def _open(path: Path):
    """The archive and its validated header; every member's sizes checked, nothing inflated but region.json."""
    if not path.is_file():
        raise LatentlabError(f"{path}: no such region file")
    label = str(path)
    zf = open_zip(path, label, _region_limits(), what="latentlab region file")
    try:
        for name in zf.namelist():
            if name not in (_JSON, _ARRAYS) and not _MODEL_MEMBER.fullmatch(name):
                raise LatentlabError(f"{path}: unexpected member {name[:80]!r} (a region file holds {_JSON}, "
                                     f"{_ARRAYS} and NAME.keras models only)")
        if _JSON not in zf.namelist():
            raise LatentlabError(f"{path}: not a latentlab region file (write one with `latentlab fit-region`)")
        raw = read_member(zf, _JSON, label, limit=_MAX_JSON_BYTES)
        try:
            doc = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise LatentlabError(f"{path}: {_JSON} is not valid JSON") from None
        _check_header(doc, path)
    except BaseException:
        close_zip(zf)
        raise
    return zf, doc


def _check_header(doc, path: Path) -> None:
    if not isinstance(doc, dict) or doc.get("format") != REGION_FORMAT:
        raise LatentlabError(f"{path}: not a latentlab region file (write one with `latentlab fit-region`)")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise LatentlabError(f"{path}: {_JSON}: 'version' must be a positive integer, got {version!r}")
    if version > _VERSION:
        raise LatentlabError(f"{path}: region file version {version} is newer than this latentlab reads")
    store = doc.get("store")
    if store is not None and not (isinstance(store, dict) and all(isinstance(k, str) for k in store)):
        raise LatentlabError(f"{path}: {_JSON}: 'store' must be an object")
    _check_region_doc(doc, path, "region")


def _check_region_doc(doc, path: Path, where: str) -> None:
    if not isinstance(doc, dict):
        raise LatentlabError(f"{path}: {_JSON}: {where} must be an object, got {type(doc).__name__}")
    for key, kind in (("class", str), ("params", dict), ("state", dict)):
        if not isinstance(doc.get(key), kind):
            raise LatentlabError(f"{path}: {_JSON}: {where}.{key} must be a{'n object' if kind is dict else ' string'},"
                                 f" got {type(doc.get(key)).__name__}")
    if "region" in doc and not isinstance(doc["region"], (str, type(None))):
        raise LatentlabError(f"{path}: {_JSON}: {where}.region must be a string")


def region_file_info(path) -> dict:
    """The JSON header of a region file (name, parameters, store) without loading it.

    The header's structure is validated; the fitted state is validated only by :func:`load_region`.
    """
    zf, doc = _open(Path(path))
    close_zip(zf)
    return doc


class _Reader:
    """Builds a region from a validated header: every name is looked up, never used as a path."""

    def __init__(self, path: Path, zf, arrays: dict):
        self.path, self.zf, self.arrays = path, zf, arrays

    def fail(self, where: str, problem: str):
        raise LatentlabError(f"{self.path}: {where}: {problem}")

    def build(self, doc, where: str, depth: int = 0) -> BaseRegion:
        from ._registry import REGIONS

        if depth > _MAX_DEPTH:
            self.fail(where, f"regions nested deeper than {_MAX_DEPTH}")
        _check_region_doc(doc, self.path, where)
        classes = {cls.__name__: cls for cls, _ in REGIONS.values()}
        cls = classes.get(doc["class"])
        if cls is None:
            self.fail(where, f"unknown region class {doc['class'][:80]!r}; known: {', '.join(sorted(classes))}")
        import inspect

        signature = inspect.signature(cls.__init__).parameters
        unknown = sorted(set(doc["params"]) - set(cls._get_param_names()))
        if unknown:
            self.fail(where, f"{cls.__name__} takes no parameter {unknown[0][:80]!r}")
        params = {k: tuple(v) if isinstance(signature[k].default, tuple) and isinstance(v, list) else v
                  for k, v in doc["params"].items()}
        region = cls(**params)
        try:
            region.validate_params()
        except LatentlabError as exc:
            self.fail(where, str(exc))
        for key in doc["state"]:
            if not _STATE_KEY.fullmatch(key) or callable(getattr(cls, key, None)) or isinstance(
                    getattr(cls, key, None), property):
                self.fail(where, f"{key[:80]!r} is not a fitted attribute")
        state = {key: self.decode(enc, f"{where}.state.{key}", depth) for key, enc in doc["state"].items()}
        try:
            state = validate_state(cls, state)
            for key, value in state.items():
                setattr(region, key, value)
            if hasattr(region, "_check_state"):
                region._check_state()
        except StateError as exc:
            self.fail(f"{where}.state.{exc.key}", exc.problem)
        if hasattr(region, "_restore"):
            region._restore()
        return region

    def decode(self, enc, where: str, depth: int):
        if not isinstance(enc, dict) or len(set(enc) - {"dtype"}) != 1:
            self.fail(where, "expected one of {region, regions, list, array, keras, value}")
        kind = next(k for k in enc if k != "dtype")
        value = enc[kind]
        if kind == "region":
            return self.build(value, where, depth + 1)
        if kind == "regions":
            if not isinstance(value, list):
                self.fail(where, "'regions' must be a list")
            return [self.build(d, f"{where}[{i}]", depth + 1) for i, d in enumerate(value)]
        if kind == "list":
            if not isinstance(value, list) or depth > _MAX_DEPTH:
                self.fail(where, "'list' must be a list (nested at most a few levels)")
            return [self.decode(e, f"{where}[{i}]", depth + 1) for i, e in enumerate(value)]
        if kind == "array":
            if not isinstance(value, str) or value not in self.arrays:
                self.fail(where, f"names no array of {_ARRAYS} ({str(value)[:80]!r})")
            arr = self.arrays[value]
            dtype = enc.get("dtype")
            if dtype is not None:
                if dtype != "float64":
                    self.fail(where, f"unsupported dtype {str(dtype)[:40]!r}")
                arr = arr.astype(np.float64)
            return arr.item() if arr.ndim == 0 and arr.dtype.kind == "f" else arr
        if kind == "keras":
            return self.model(value, where)
        if kind == "value":
            return value
        self.fail(where, f"unknown entry {kind[:40]!r}; expected one of region, regions, list, array, keras, value")

    def model(self, name, where: str):
        # The JSON only names which member: it must be one the writer's scheme makes and the archive holds.
        # Its bytes go to a private temporary file whose name we choose, and Keras loads it in safe mode.
        if not isinstance(name, str) or not _MODEL_MEMBER.fullmatch(name) or name not in self.zf.namelist():
            self.fail(where, f"names no model member of this file ({str(name)[:80]!r})")
        label = f"{self.path}: {name}"
        data = read_member(self.zf, name, str(self.path))
        close_zip(open_zip(io.BytesIO(data), label, _model_limits(), what="Keras model"))
        import tempfile

        from .._tf import import_keras
        from ._registry import REGIONS

        keras = import_keras()
        custom = {}
        for cls, _ in REGIONS.values():
            if getattr(cls, "_custom_objects", None) is not None:
                custom.update(cls._custom_objects())
        fd, tmp = tempfile.mkstemp(prefix="latentlab-region-model-", suffix=".keras")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return keras.saving.load_model(tmp, compile=False, safe_mode=True, custom_objects=custom or None)
        except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad or unsafe model
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            self.fail(where, f"model {name} cannot be loaded safely ({first})")
        finally:
            os.unlink(tmp)


def _read_arrays(zf, path: Path) -> dict:
    if _ARRAYS not in zf.namelist():
        raise LatentlabError(f"{path}: has no {_ARRAYS}")
    raw = read_member(zf, _ARRAYS, str(path))
    label = f"{path}: {_ARRAYS}"
    inner = open_zip(io.BytesIO(raw), label, _array_limits(), what="array archive")
    try:
        arrays = {}
        for name in inner.namelist():
            if not name.endswith(".npy"):
                raise LatentlabError(f"{label}: unexpected member {name[:80]!r} (arrays only)")
            arrays[name[:-4]] = read_npy(inner, name, label, what=f"array {name[:-4][:80]!r}")
        return arrays
    finally:
        close_zip(inner)


def load_region(path, store=None) -> BaseRegion:
    """Load a fitted region; with ``store``, refuse it unless it was fitted on that store.

    The file is data, never code: member names are fixed by the format (the JSON
    names which member, never a path), every member's size is capped before it
    is inflated, arrays must be real numeric (no pickles), the parameters pass the
    region class's ``_parameter_constraints``, and a Keras model is loaded in
    Keras' safe mode from a private temporary file.

    Parameters
    ----------
    path : path-like
        A file written by :func:`save_region` / ``latentlab fit-region``.
    store : path-like or ZStore, optional
        The store the caller will use the region with: its ``fingerprint`` must
        match the one recorded at fit time.

    Raises
    ------
    LatentlabError
        Not a region file, a member over a cap, a value that breaks the schema,
        or fitted on another store: one line naming the file and the problem.
    """
    path = Path(path)
    zf, doc = _open(path)
    try:
        if store is not None:
            check_region_store(doc, path, store)
        arrays = _read_arrays(zf, path)
        return _Reader(path, zf, arrays).build(doc, "region")
    finally:
        close_zip(zf)


def check_region_store(doc: dict, path, store) -> None:
    """Refuse (one line) a region file header ``doc`` whose store fingerprint is not that of ``store``."""
    from ._registry import _opened

    with _opened(store) as s:
        want = (doc.get("store") or {}).get("fingerprint")
        if want is None:
            raise LatentlabError(f"{path}: records no store fingerprint; refit it with `latentlab fit-region`")
        if want != s.fingerprint:
            # what the file says is quoted (repr, cut short): a path with a newline cannot split the one line
            raise LatentlabError(
                f"{path}: fitted on another store ({str(doc['store'].get('path'))[:200]!r}, fingerprint "
                f"{str(want)[:80]!r}); {s.path} has {s.fingerprint}"
            )
