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
import time
import zipfile
from pathlib import Path

import numpy as np

from .._errors import LatentlabError
from .._io import atomic_path, dumps_json
from ._base import BaseRegion

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
            name = f"{key.replace('/', '_')}.keras"
            self.models[name] = value
            return {"keras": name}
        if isinstance(value, (np.ndarray, np.generic, float)):
            arr = np.asarray(value)
            if arr.dtype == np.float64 and np.array_equal(arr.astype(np.float32), arr, equal_nan=True):
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


def _open(path: Path):
    if not path.is_file():
        raise LatentlabError(f"{path}: no such region file")
    try:
        zf = zipfile.ZipFile(path)
        doc = json.loads(zf.read("region.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise LatentlabError(f"{path}: not a latentlab region file (write one with `latentlab fit-region`)") from None
    if doc.get("format") != REGION_FORMAT:
        raise LatentlabError(f"{path}: not a latentlab region file")
    if doc.get("version", 0) > _VERSION:
        raise LatentlabError(f"{path}: region file version {doc['version']} is newer than this latentlab reads")
    return zf, doc


def region_file_info(path) -> dict:
    """The JSON header of a region file (name, parameters, store) without loading it."""
    zf, doc = _open(Path(path))
    zf.close()
    return doc


def _build(doc: dict, arrays, zf, path: Path) -> BaseRegion:
    from ._registry import REGIONS

    classes = {cls.__name__: cls for cls, _ in REGIONS.values()}
    cls = classes.get(doc.get("class"))
    if cls is None:
        raise LatentlabError(f"{path}: unknown region class {doc.get('class')!r}")
    import inspect

    defaults = {k: v.default for k, v in inspect.signature(cls.__init__).parameters.items()}
    params = {k: tuple(v) if isinstance(defaults.get(k), tuple) and isinstance(v, list) else v
              for k, v in doc["params"].items()}
    region = cls(**params)
    for key, enc in doc["state"].items():
        setattr(region, key, _decode(enc, arrays, zf, path, cls))
    if hasattr(region, "_restore"):
        region._restore()
    return region


def _decode(enc: dict, arrays, zf, path: Path, cls=None):
    if "region" in enc:
        return _build(enc["region"], arrays, zf, path)
    if "regions" in enc:
        return [_build(d, arrays, zf, path) for d in enc["regions"]]
    if "list" in enc:
        return [_decode(e, arrays, zf, path, cls) for e in enc["list"]]
    if "array" in enc:
        arr = arrays[enc["array"]]
        if enc.get("dtype"):
            arr = arr.astype(enc["dtype"])
        return arr.item() if arr.ndim == 0 and arr.dtype.kind == "f" else arr
    if "keras" in enc:
        import tempfile

        import keras

        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / enc["keras"]
            target.write_bytes(zf.read(enc["keras"]))
            custom = getattr(cls, "_custom_objects", None)
            return keras.saving.load_model(target, compile=False, custom_objects=custom() if custom else None)
    return enc["value"]


def load_region(path, store=None) -> BaseRegion:
    """Load a fitted region; with ``store``, refuse it unless it was fitted on that store.

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
        Not a region file, or fitted on another store.
    """
    path = Path(path)
    zf, doc = _open(path)
    with zf:
        if store is not None:
            check_region_store(doc, path, store)
        with np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return _build(doc, arrays, zf, path)


def check_region_store(doc: dict, path, store) -> None:
    """Refuse (one line) a region file header ``doc`` whose store fingerprint is not that of ``store``."""
    from ._registry import _opened

    with _opened(store) as s:
        want = (doc.get("store") or {}).get("fingerprint")
        if want is None:
            raise LatentlabError(f"{path}: records no store fingerprint; refit it with `latentlab fit-region`")
        if want != s.fingerprint:
            raise LatentlabError(
                f"{path}: fitted on another store ({doc['store'].get('path')}, fingerprint {want}); {s.path} has {s.fingerprint}"
            )
