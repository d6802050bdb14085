"""Export a z-store for the embedding viewers people already use.

* TensorBoard's projector: ``tensors.tsv`` (or ``tensors.bytes``, raw float32),
  ``metadata.tsv`` (one header row, then one row per point), ``sprite.png``
  (when images are available) and ``projector_config.pbtxt``.
* Parquet (pandas, Polars, DuckDB, Embedding Atlas): one row per point with
  ``row``, ``id``, labels, ``radius``, ``pc1``… and ``z`` as a fixed-size list.

Every file is written atomically; existing files are replaced only with
``overwrite=True``, and everything is checked before the first file is written.

Names and values come from the store (ids, attribute names, category names),
which may come from someone else, so the text files escape them:

* ``metadata.tsv``: a tab, carriage return or newline inside a header or a cell
  becomes a space (the projector splits on them); a text cell that starts with
  ``=``, ``+``, ``-`` or ``@`` and is not a plain number gets a leading ``'``, so
  a spreadsheet that opens the file shows it as text rather than running it as a
  formula (numbers such as ``-1`` are kept as they are);
* column names that repeat (two attributes with one name, or an attribute named
  like a built-in column such as ``id``) get ``_2``, ``_3``… in both TSV and
  Parquet, and the result's ``notes`` say which;
* ``projector_config.pbtxt``: ``\\``, ``"`` and line breaks in the store's name are
  escaped as protobuf text-format strings require.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .._errors import LatentlabError

__all__ = ["PROJECTOR_FILES", "PROJECTOR_MAX_POINTS", "SPRITE_MAX_PX", "export_parquet", "export_projector"]

#: The projector samples down to 100,000 points; exporting more only makes it slower.
PROJECTOR_MAX_POINTS = 100_000
#: The projector's sprite atlas is at most 8192 × 8192 pixels.
SPRITE_MAX_PX = 8192
#: Values above which ``tensor_format='auto'`` writes raw float32 instead of text.
_TSV_MAX_VALUES = 5_000_000
PROJECTOR_FILES = ("tensors.tsv", "tensors.bytes", "metadata.tsv", "sprite.png", "projector_config.pbtxt")


def _as_data(data_or_store, **kw):
    from ._data import ExploreData, load_explore_data

    return data_or_store if isinstance(data_or_store, ExploreData) else load_explore_data(data_or_store, **kw)


#: First characters with which a spreadsheet starts a formula (CSV/TSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _tsv_cell(value) -> str:
    r"""One TSV cell: on one line and in one column, and never read as a formula by a spreadsheet.

    Examples
    --------
    >>> [_tsv_cell(v) for v in ["a\tb", "=HYPERLINK(1)", "-1", "@x", "", -2]]
    ['a b', "'=HYPERLINK(1)", '-1', "'@x", '-', '-2']
    """
    text = str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")
    if text.startswith(FORMULA_PREFIXES) and not _is_number(text):
        text = "'" + text
    return text or "-"


def _unique_names(names) -> tuple[list[str], list[str]]:
    """Names made unique by ``_2``, ``_3``… suffixes (in order of appearance); notes naming each change.

    Examples
    --------
    >>> _unique_names(["row", "id", "smile", "smile", "id"])
    (['row', 'id', 'smile', 'smile_2', 'id_2'], ["warning: column 'smile' repeats: the second is 'smile_2'", "warning: column 'id' repeats: the second is 'id_2'"])
    """
    seen: set[str] = set()
    out, notes = [], []
    counts: dict[str, int] = {}
    for name in names:
        name = str(name)
        unique, k = name, counts.get(name, 1)
        while unique in seen:
            k += 1
            unique = f"{name}_{k}"
        counts[name] = k
        if unique != name:
            ordinal = {2: "second", 3: "third"}.get(k, f"{k}th")
            notes.append(f"warning: column {name!r} repeats: the {ordinal} is {unique!r}")
        seen.add(unique)
        out.append(unique)
    return out, notes


def _metadata_columns(data, rows: np.ndarray) -> tuple[dict, list[str]]:
    """Columns for the metadata (name → values), names unique, and notes about renamed columns."""
    cols = [("row", rows), ("id", data.ids[rows])]
    for name in ("label", "partition", "fragment"):
        f = data.colours.get(name)
        if f is not None:
            cats = np.asarray(list(f.categories) + ["none"], dtype=object)
            cols.append((name, cats[np.where(f.values[rows] >= 0, f.values[rows], len(f.categories))]))
    if data.attributes is not None and "label" not in data.colours:
        for k, name in enumerate(data.attribute_names):
            cols.append((name, data.attributes[rows, k]))
    cols.append(("radius", np.round(data.colours["radius"].values[rows], 5)))
    names, notes = _unique_names(name for name, _ in cols)
    return {name: values for name, (_, values) in zip(names, cols)}, notes


def _pbtxt_string(text: str) -> str:
    r"""A protobuf text-format string literal body: backslash, quote and line breaks escaped.

    Examples
    --------
    >>> print(_pbtxt_string('a "b" \\ c\nd'))
    a \"b\" \\ c\nd
    """
    return (str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
            .replace("\t", "\\t"))


def _check_target_files(paths, overwrite: bool) -> None:
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        raise LatentlabError(f"{existing[0]} exists; pass --overwrite to replace it")
    for p in existing:
        if p.is_dir():
            raise LatentlabError(f"{p} is a directory")


def _export_rows(n: int, max_points: int | None, seed: int) -> np.ndarray:
    if max_points is None or n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=int(max_points), replace=False))


def export_projector(data_or_store, out_dir, *, max_points: int | None = PROJECTOR_MAX_POINTS, seed: int = 0,
                     tensor_format: str = "auto", sprite: bool = True, overwrite: bool = False, **load_kw) -> dict:
    """Write TensorBoard projector files for a z-store into ``out_dir``.

    Parameters
    ----------
    data_or_store : ExploreData or path-like
        A store path (``model_dir`` / ``encoder`` / ``decoder`` / ``fragments`` go
        to :func:`load_explore_data`) or loaded explorer data.
    out_dir : path-like
        Folder for the files (created). Load it with ``tensorboard --logdir out_dir``
        or the standalone projector's "Load" button.
    max_points : int or None, default 100000
        A seeded uniform subsample above this (the projector's own limit).
    tensor_format : {'auto', 'tsv', 'bytes'}
        ``auto``: TSV up to 5 million values, raw float32 (``tensors.bytes``) above.
    sprite : bool, default True
        Write ``sprite.png`` of the points' images: originals when the store's
        source is on this machine, else reconstructions (needs a model); skipped
        when neither is available (the result's ``notes`` say why).
    overwrite : bool, default False

    Returns
    -------
    dict
        ``files`` (name → path), ``n_points``, ``tensor_format``, ``notes``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from latentlab import write_store
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> store = write_store(d / "z.h5", np.random.default_rng(0).normal(size=(20, 3)))
    >>> info = export_projector(store, d / "projector")
    >>> info["n_points"], sorted(info["files"])[:2]
    (20, ['config', 'metadata'])
    """
    from .._io import atomic_path, write_text

    if tensor_format not in ("auto", "tsv", "bytes"):
        raise LatentlabError(f"tensor format must be auto, tsv or bytes, got {tensor_format!r}")
    if max_points is not None and (isinstance(max_points, bool) or int(max_points) < 1):
        raise LatentlabError(f"max points must be at least 1, got {max_points!r}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise LatentlabError(f"{out}: exists and is not a folder")
    _check_target_files([out / name for name in PROJECTOR_FILES], overwrite)
    data = _as_data(data_or_store, **load_kw)
    rows = _export_rows(data.n, max_points, seed)
    m, d = len(rows), data.z_dim
    fmt = tensor_format if tensor_format != "auto" else ("tsv" if m * d <= _TSV_MAX_VALUES else "bytes")
    notes = []
    if m < data.n:
        notes.append(f"{m:,} of {data.n:,} points (seeded uniform subsample, seed {seed})")
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    z = data.z[rows]
    tensor_name = "tensors.tsv" if fmt == "tsv" else "tensors.bytes"
    with atomic_path(out / tensor_name) as tmp:
        if fmt == "tsv":
            np.savetxt(tmp, z, fmt="%.6g", delimiter="\t")
        else:
            np.ascontiguousarray(z, dtype="<f4").tofile(tmp)
    files["tensors"] = out / tensor_name
    for stale in ({"tsv", "bytes"} - {fmt}):  # never leave the other format's tensors beside a new config
        other = out / f"tensors.{stale}"
        if other.exists() and overwrite:
            other.unlink()
    cols, renamed = _metadata_columns(data, rows)
    header, escaped_alike = _unique_names(_tsv_cell(c) for c in cols)  # "a\tb" and "a b" are one name once escaped
    notes.extend(renamed + escaped_alike)
    lines = ["\t".join(header)] + ["\t".join(_tsv_cell(cols[c][k]) for c in cols) for k in range(m)]
    files["metadata"] = write_text(out / "metadata.tsv", "\n".join(lines) + "\n")
    sprite_block = ""
    if sprite:
        cell, note = _write_sprite(data, rows, out / "sprite.png")
        if cell:
            files["sprite"] = out / "sprite.png"
            sprite_block = (f'  sprite {{\n    image_path: "sprite.png"\n    single_image_dim: {cell}\n'
                            f'    single_image_dim: {cell}\n  }}\n')
        if note:
            notes.append(note)
    config = (f'embeddings {{\n  tensor_name: "{_pbtxt_string(data.store_path.stem)}"\n  tensor_path: "{tensor_name}"\n'
              f"  tensor_shape: {m}\n  tensor_shape: {d}\n"
              f'  metadata_path: "metadata.tsv"\n{sprite_block}}}\n')
    files["config"] = write_text(out / "projector_config.pbtxt", config)
    return {"files": files, "n_points": m, "tensor_format": fmt, "notes": notes}


def _write_sprite(data, rows: np.ndarray, path: Path) -> tuple[int, str]:
    """Tile the points' images (row-major, the projector's order); returns (cell size, note)."""
    from PIL import Image

    from .._io import atomic_path

    m = len(rows)
    per_side = math.ceil(math.sqrt(m))
    if data._source is None and not data.has_model:
        return 0, f"no sprite: {data.originals_note} and no model to reconstruct them"
    first, kind = data.image(int(rows[0]))
    size = first.shape[0]
    cell = max(1, min(size, SPRITE_MAX_PX // per_side))
    channels = first.shape[2]
    atlas = np.full((per_side * cell, per_side * cell, channels), 255, np.uint8)

    def put(k, img):
        arr = np.asarray(img)
        if arr.dtype != np.uint8:
            arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
        if cell != size:
            pil = Image.fromarray(arr[:, :, 0] if channels == 1 else arr).resize((cell, cell), Image.BILINEAR)
            arr = np.asarray(pil).reshape(cell, cell, channels)
        r, c = divmod(k, per_side)
        atlas[r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = arr

    if kind == "original":
        for k, row in enumerate(rows):
            img, _ = data.image(int(row))
            put(k, img)
    else:  # decode in batches rather than one image per call
        for start in range(0, m, 1024):
            block = rows[start:start + 1024]
            for k, img in enumerate(data.decode(data.z[block]), start=start):
                put(k, img)
    with atomic_path(path) as tmp:
        Image.fromarray(atlas[:, :, 0] if channels == 1 else atlas).save(tmp, format="PNG")
    note = "" if kind == "original" else f"sprite shows reconstructions ({data.originals_note})"
    return cell, note


def export_parquet(data_or_store, path, *, overwrite: bool = False, **load_kw) -> dict:
    """Write one Parquet row per point: ``row``, ``id``, labels, ``radius``, ``pc1``…, ``z``.

    ``z`` is a fixed-size list of float32 (pandas reads it as arrays);
    ``pc1``… are the scores on the first (up to 10) principal axes of
    :mod:`latentlab.analysis`'s PCA. Embedding Atlas: ``embedding-atlas FILE --x pc1 --y pc2``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import pyarrow.parquet as pq
    >>> from latentlab import write_store
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> store = write_store(d / "z.h5", np.random.default_rng(0).normal(size=(20, 3)))
    >>> info = export_parquet(store, d / "z.parquet")
    >>> table = pq.read_table(d / "z.parquet")
    >>> table.num_rows, table.column_names[:3], len(table.column("z")[0])
    (20, ['row', 'id', 'radius'], 3)
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - a declared dependency
        raise LatentlabError("Parquet export needs pyarrow (pip install pyarrow)") from None
    from .._io import atomic_path

    path = Path(path)
    if path.suffix.lower() != ".parquet":
        raise LatentlabError(f"{path}: the Parquet file name must end in .parquet")
    _check_target_files([path], overwrite)
    data = _as_data(data_or_store, **load_kw)
    rows = np.arange(data.n)
    cols, notes = _metadata_columns(data, rows)
    arrays = {}
    for name, values in cols.items():
        values = np.asarray(values)
        arrays[name] = pa.array(values.astype(str) if values.dtype == object else values)
    for k in range(data.n_axes):
        arrays[f"pc{k + 1}"] = pa.array(data.scores[:, k].astype(np.float32))
    flat = pa.array(np.ascontiguousarray(data.z, dtype=np.float32).ravel())
    arrays["z"] = pa.FixedSizeListArray.from_arrays(flat, data.z_dim)
    table = pa.table(arrays).replace_schema_metadata({
        "latentlab.store": str(data.store_path), "latentlab.fingerprint": data.fingerprint,
        "latentlab.pca": "pc1… = scores on the principal axes of the whole store (latentlab.analysis.fit_pca)",
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return {"files": {"parquet": path}, "n_points": data.n, "columns": list(arrays), "notes": notes}
