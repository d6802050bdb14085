"""What a model expects, read without TensorFlow: the z_dim a decoder takes.

Loading a Keras model costs seconds (TensorFlow's import alone 5–10 s); a z_dim
that does not fit the store or the region file is known from a few kilobytes of
JSON. Commands call :func:`peek_z_dim` before loading so that such a mismatch
fails at once; the full shape checks still run when the model is loaded.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from .._errors import ModelError

__all__ = ["check_model_z_dim", "peek_z_dim"]

#: Largest ``config.json`` inside a ``.keras`` file that is parsed (a model's architecture is kilobytes).
_MAX_CONFIG_BYTES = 16 << 20


def _keras_input_dim(path: Path) -> int | None:
    """The last input dimension of a ``.keras`` file's (single) input, or None when it cannot be told."""
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("config.json")
            if info.file_size > _MAX_CONFIG_BYTES:
                return None
            config = json.loads(zf.read(info).decode("utf-8"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, UnicodeDecodeError, RuntimeError, NotImplementedError):
        return None  # not a .keras zip: loading it reports the problem in its own words
    try:
        inner = config["config"]
        layers = inner.get("layers") or []
        names = inner.get("input_layers")
        if names and isinstance(names[0], str):  # Keras 3 writes one input as ["z", 0, 0]
            names = [names]
        wanted = {n[0] for n in names} if names else None
        shapes = []
        for layer in layers:
            if layer.get("class_name") != "InputLayer":
                continue
            if wanted is not None and layer.get("name", layer.get("config", {}).get("name")) not in wanted:
                continue
            cfg = layer.get("config", {})
            shapes.append(cfg.get("batch_shape") or cfg.get("batch_input_shape"))
        if not shapes:
            build = config.get("build_config") or {}
            shapes = [build.get("input_shape")]
        if len(shapes) != 1 or not isinstance(shapes[0], list) or len(shapes[0]) != 2:
            return None
        dim = shapes[0][-1]
        return int(dim) if isinstance(dim, int) and not isinstance(dim, bool) and dim > 0 else None
    except (AttributeError, TypeError, KeyError, IndexError):
        return None


def peek_z_dim(model_dir=None, *, encoder=None, decoder=None) -> int | None:
    """The z_dim of a model directory (its ``config.json``) or of a decoder ``.keras`` file, without TensorFlow.

    Returns ``None`` when no model is given or the file does not say (loading
    the model then checks). A model directory that is missing or has a bad
    ``config.json`` raises :class:`~latentlab.ModelError` here already.

    Examples
    --------
    >>> peek_z_dim() is None
    True
    """
    if model_dir is not None:
        from ._config import read_config

        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ModelError(f"{model_dir}: no such model directory")
        return int(read_config(model_dir).z_dim)
    if decoder is not None:
        decoder = Path(decoder)
        if not decoder.is_file():
            raise ModelError(f"{decoder}: no such model file")
        return _keras_input_dim(decoder)
    return None


def check_model_z_dim(z_dim: int, where, *, model_dir=None, encoder=None, decoder=None) -> None:
    """Refuse a model whose z_dim differs from ``z_dim`` (of the store or region ``where``) before loading it."""
    expected = peek_z_dim(model_dir, encoder=encoder, decoder=decoder)
    if expected is not None and int(expected) != int(z_dim):
        raise ModelError(f"{where}: z_dim {z_dim} does not match the model's z_dim {expected}")
