"""Latent points from anywhere: import an array as a z-store, and cut a smaller store.

:func:`import_array` turns z-points computed by any framework (PyTorch, JAX,
scikit-learn …) and saved as ``.npy``, ``.npz``, Parquet, CSV or — when
PyTorch happens to be installed — a ``.pt`` tensor into a complete z-store
with provenance, written through :class:`~latentlab.store.StoreWriter`. Every
analysis, region and the explorer then work on it without a model.

:func:`subset_store` writes a seeded random subset of a store's rows (one
partition or all) with their ids, partitions and attributes.

Every input file may come from someone else: sizes are checked against the
machine's memory before anything is read, no pickle is ever loaded, values
must be finite in float32, ids unique; the output is built under a temporary
name and renamed, so a refused input leaves nothing behind and replaces nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import StoreError

__all__ = ["IMPORT_FORMATS", "import_array", "subset_store"]

#: File suffixes :func:`import_array` reads, and what each one is.
IMPORT_FORMATS = {
    ".npy": "npy", ".npz": "npz", ".parquet": "parquet", ".pq": "parquet",
    ".csv": "csv", ".pt": "pt", ".pth": "pt",
}
#: Longest id accepted (characters).
MAX_ID_CHARS = 1024
#: Largest ids or attribute file read whole.
MAX_TEXT_BYTES = 1 << 30
#: Rows written per block.
_BLOCK_ROWS = 65_536
#: Partition names accepted in a ``--partition-column`` (case-insensitive) → code; empty = unlisted.
_PARTITION_VALUES = {"train": 0, "0": 0, "val": 1, "valid": 1, "validation": 1, "1": 1, "test": 2, "2": 2,
                     "": -1, "-1": -1, "none": -1}


def _memory_limit() -> int:
    from ..sources._arrays import _memory_bytes

    return _memory_bytes() // 2


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def _regular_file(path: Path, what: str) -> int:
    """Size of ``path``, refusing anything but a readable regular file (a FIFO would hang the read)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise StoreError(f"{path}: no such file ({what})") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{path}: is a directory, expected a {what} file")
    if not stat.S_ISREG(st.st_mode):
        raise StoreError(f"{path}: not a regular file ({what})")
    return int(st.st_size)


def _check_bytes(path: Path, nbytes: float, what: str) -> None:
    limit = _memory_limit()
    if nbytes > limit:
        raise StoreError(f"{path}: {what} would need {_gib(nbytes)} in memory "
                         f"(more than half of this machine's {_gib(2 * limit)})")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class _Points:
    """A 2-D numeric array (possibly memory-mapped) and what came with it."""

    z: np.ndarray
    ids: list | None = None
    info: dict = field(default_factory=dict)


def _check_matrix(path: Path, shape, dtype, where: str = "") -> None:
    shape, dtype = tuple(shape), np.dtype(dtype)
    if dtype.hasobject:
        raise StoreError(f"{path}{where}: holds Python objects (pickles are never loaded)")
    if dtype.kind not in "fiu":
        raise StoreError(f"{path}{where}: expected real numbers, found dtype {dtype}")
    if len(shape) != 2:
        raise StoreError(f"{path}{where}: expected a 2-D array (N, z_dim), one row per point; found shape {shape}")
    from ._reader import MAX_Z_DIM

    if shape[0] < 1 or shape[1] < 1:
        raise StoreError(f"{path}{where}: empty array of shape {shape}")
    if shape[1] > MAX_Z_DIM:
        raise StoreError(f"{path}{where}: {shape[1]:,} columns; a z-store holds z_dim up to {MAX_Z_DIM:,}")


def _npy_header(fh, path: Path, where: str = ""):
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except Exception as exc:  # numpy raises ValueError / SyntaxError / UnicodeError on a bad header
        raise StoreError(f"{path}{where}: not a readable .npy array ({type(exc).__name__})") from None
    return tuple(shape), np.dtype(dtype)


def _read_npy(path: Path) -> _Points:
    with open(path, "rb") as fh:
        shape, dtype = _npy_header(fh, path)
    _check_matrix(path, shape, dtype)  # from the header: nothing is read before the checks
    nbytes = float(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    size = _regular_file(path, "array")
    if size < nbytes:
        raise StoreError(f"{path}: truncated: the header says {shape} {dtype} ({nbytes:,.0f} bytes), the file has {size:,}")
    try:  # memory-mapped: rows are read block by block while writing
        z = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise StoreError(f"{path}: not a readable .npy array ({type(exc).__name__})") from None
    return _Points(z)


def _read_npz(path: Path, key: str | None) -> _Points:
    # the same guarded route as every .npz latentlab reads: caps on the directory and every member before
    # inflating, arrays parsed from their .npy header (never np.load: no pickles, no complex or structured dtype)
    from .._zipsafe import ZipLimits, close_zip, memory_bytes, open_zip, read_npy
    from ..sources._arrays import _MAX_COMPRESSION_RATIO, _MAX_NPZ_MEMBERS, _BOMB_CHECK_BYTES, check_npz_member
    from .._errors import DataSourceError

    half = memory_bytes() // 2
    limits = ZipLimits(max_members=_MAX_NPZ_MEMBERS, max_member_bytes=half, max_total_bytes=half,
                       max_ratio=_MAX_COMPRESSION_RATIO, ratio_floor_bytes=_BOMB_CHECK_BYTES)
    zf = open_zip(path, str(path), limits, error=StoreError, what=".npz file")
    try:
        members = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
        if key is None:
            numeric = [m for m in members if m != "ids"]
            if "z" in members:
                key = "z"
            elif len(numeric) == 1:
                key = numeric[0]
            else:
                raise StoreError(f"{path}: which array holds z? found {', '.join(members) or 'none'}"
                                 " (name it 'z' or pass --key)")
        if key not in members:
            raise StoreError(f"{path}: no array {key!r} (found: {', '.join(members) or 'none'})")
        try:
            check_npz_member(zf, key, path)
            z = read_npy(zf, f"{key}.npy", str(path), error=StoreError, what=repr(key))
            ids = None
            if "ids" in members and key != "ids":
                check_npz_member(zf, "ids", path)
                ids = read_npy(zf, "ids.npy", str(path), error=StoreError, kinds="iuUS", what="'ids'")
        except DataSourceError as exc:
            raise StoreError(str(exc)) from None
    finally:
        close_zip(zf)
    _check_matrix(path, z.shape, z.dtype, f" ({key!r})")
    if ids is not None:
        ids = _ids_from_array(ids, path, "'ids'")
    return _Points(z, ids, {"source_key": key})


def _ids_from_array(arr: np.ndarray, path: Path, what: str) -> list[str]:
    if arr.ndim != 1 or arr.dtype.kind not in "US":
        raise StoreError(f"{path}: {what} must be a 1-D array of strings, found shape {arr.shape} dtype {arr.dtype}")
    if arr.dtype.kind == "S":
        try:
            return [b.decode("utf-8") for b in arr.tolist()]
        except UnicodeDecodeError:
            raise StoreError(f"{path}: {what} are not UTF-8 text") from None
    return [str(v) for v in arr.tolist()]


def _table_to_points(table, path: Path) -> _Points:
    """A pyarrow table: numeric columns (or one list column of vectors) are z; a string column ``id`` gives ids."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = None
    columns = []
    for name, col in zip(table.column_names, table.columns):
        if col.null_count:
            row = int(pc.index(pc.is_null(col), True).as_py())
            raise StoreError(f"{path}: column {name!r} has an empty value in data row {row + 1}")
        t = col.type
        if name == "id" and (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)):
            ids = [str(v) for v in col.to_pylist()]
            continue
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            columns.append(("scalar", name, col))
        elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            if not (pa.types.is_integer(t.value_type) or pa.types.is_floating(t.value_type)):
                raise StoreError(f"{path}: column {name!r} holds lists of {t.value_type}, expected numbers")
            columns.append(("list", name, col))
        else:
            raise StoreError(f"{path}: column {name!r} is {t}, not numbers (ids go in a column named 'id' or "
                             "--ids FILE, labels in --attributes CSV)")
    if not columns:
        raise StoreError(f"{path}: no numeric columns")
    if any(kind == "list" for kind, _, _ in columns):
        if len(columns) != 1:
            raise StoreError(f"{path}: a column of vectors must be the only z column (found {len(columns)} columns)")
        _, name, col = columns[0]
        col = col.combine_chunks()
        lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
        if len(lengths) == 0 or lengths.min() != lengths.max():
            raise StoreError(f"{path}: the vectors of column {name!r} differ in length"
                             f" ({int(lengths.min()) if len(lengths) else 0}..{int(lengths.max()) if len(lengths) else 0})")
        flat = pc.list_flatten(col)
        if flat.null_count:
            raise StoreError(f"{path}: column {name!r} has empty values inside its vectors")
        z = np.asarray(flat.to_numpy(zero_copy_only=False), np.float64).reshape(len(lengths), int(lengths[0]))
    else:
        z = np.empty((table.num_rows, len(columns)), np.float32)
        for j, (_, name, col) in enumerate(columns):
            values = col.to_numpy(zero_copy_only=False).astype(np.float64)
            with np.errstate(over="ignore"):
                z[:, j] = values
            if not np.isfinite(values).all():  # before float32 hides which column it was
                row = int(np.flatnonzero(~np.isfinite(values))[0])
                raise StoreError(f"{path}: column {name!r} has a non-finite value (NaN or Inf) in data row {row + 1}")
    _check_matrix(path, z.shape, z.dtype)
    return _Points(z, ids)


def _read_parquet(path: Path) -> _Points:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        meta = pf.metadata
        _check_bytes(path, float(meta.num_rows) * max(1, meta.num_columns) * 8 * 2, "its table")
        table = pf.read()
    except StoreError:
        raise
    except Exception as exc:  # ArrowInvalid, OSError on a damaged footer …
        raise StoreError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
    return _table_to_points(table, path)


def _first_line_is_header(path: Path) -> bool:
    with open(path, "rb") as fh:
        first = fh.readline(1 << 20).decode("utf-8-sig", "replace").strip()
    for cell in next(csv.reader([first]), []):
        try:
            float(cell)
        except ValueError:
            return True
    return False


def _read_csv(path: Path, size: int) -> _Points:
    import pyarrow.csv as pacsv

    # a float64 needs 8 bytes; its text at least 2 ("0,"): parsing can need 4× the file and a copy
    _check_bytes(path, float(size) * 4 * 2, "its values")
    header = _first_line_is_header(path)
    try:
        table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(autogenerate_column_names=not header))
    except Exception as exc:  # ArrowInvalid: ragged rows, bad UTF-8 …
        raise StoreError(f"{path}: not a readable CSV ({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})") from None
    return _table_to_points(table, path)


def _read_pt(path: Path) -> _Points:
    try:
        import torch
    except ImportError:
        raise StoreError(f"{path}: reading .pt needs PyTorch, which is not installed; save the tensor with "
                         "numpy instead: np.save('z.npy', tensor.cpu().numpy())") from None
    try:  # weights_only: tensors and plain containers, never arbitrary pickled objects
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise StoreError(f"{path}: not a readable tensor file ({type(exc).__name__}; only tensors are loaded)") from None
    if isinstance(obj, dict):
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if "z" in tensors:
            obj = tensors["z"]
        elif len(tensors) == 1:
            obj = next(iter(tensors.values()))
        else:
            raise StoreError(f"{path}: which tensor holds z? found {', '.join(map(str, tensors)) or 'none'} (name it 'z')")
    if not isinstance(obj, torch.Tensor):
        raise StoreError(f"{path}: expected a tensor, found {type(obj).__name__}")
    if obj.is_complex():
        raise StoreError(f"{path}: expected real numbers, found {obj.dtype}")
    z = obj.detach().to(torch.float64).numpy()
    _check_matrix(path, z.shape, z.dtype)
    return _Points(z)


def _read_ids_file(path: Path, n: int) -> list[str]:
    size = _regular_file(path, "ids")
    if path.suffix.lower() == ".npy":
        with open(path, "rb") as fh:
            shape, dtype = _npy_header(fh, path)
        if dtype.hasobject or dtype.kind not in "US" or len(shape) != 1:
            raise StoreError(f"{path}: ids must be a 1-D array of strings, found shape {shape} dtype {dtype}")
        if size > MAX_TEXT_BYTES:
            raise StoreError(f"{path}: {size:,} bytes of ids (at most {MAX_TEXT_BYTES:,})")
        ids = _ids_from_array(np.load(path, allow_pickle=False), path, "ids")
    else:
        if size > min(MAX_TEXT_BYTES, (n + 1) * (4 * MAX_ID_CHARS + 2)):
            raise StoreError(f"{path}: {size:,} bytes is too large for {n:,} ids of at most {MAX_ID_CHARS} characters")
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise StoreError(f"{path}: not a UTF-8 text file (one id per line)") from None
        ids = [line.strip() for line in text.splitlines()]
        while ids and ids[-1] == "":
            ids.pop()
    _check_ids(ids, n, str(path))
    return ids


def _check_ids(ids: list[str], n: int, where: str) -> None:
    if len(ids) != n:
        raise StoreError(f"{where}: {len(ids):,} ids for {n:,} rows of z")
    seen: dict[str, int] = {}
    for line, i in enumerate(ids, 1):
        if not i:
            raise StoreError(f"{where}: id {line} is empty")
        if len(i) > MAX_ID_CHARS:
            raise StoreError(f"{where}: id {line} is {len(i):,} characters long (at most {MAX_ID_CHARS})")
        if any(ord(c) < 32 for c in i):
            raise StoreError(f"{where}: id {line} contains a control character")
        if i in seen:
            raise StoreError(f"{where}: id {i!r} appears twice (ids {seen[i]} and {line})")
        seen[i] = line


@dataclass
class _Labels:
    ids: list | None
    partition: np.ndarray | None
    names: list | None
    attributes: np.ndarray | None
    matched: int


def _read_labels(path: Path, n: int, ids: list | None, partition_column: str | None) -> _Labels:
    """The attribute CSV: matched by an ``id`` column (or row by row without one)."""
    from .._errors import DataSourceError
    from ..sources._attributes_csv import binary_columns

    size = _regular_file(path, "attributes CSV")
    if size > MAX_TEXT_BYTES:
        raise StoreError(f"{path}: {size:,} bytes (an attributes CSV is read whole; at most {MAX_TEXT_BYTES:,})")
    try:
        text = path.read_bytes().decode("utf-8-sig")
        table = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    except UnicodeDecodeError:
        raise StoreError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as exc:
        raise StoreError(f"{path}: not a readable CSV ({exc})") from None
    if len(table) < 2:
        raise StoreError(f"{path}: expected a header row and at least one data row")
    header = [h.strip() for h in table[0]]
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise StoreError(f"{path}: column {dup[0]!r} appears twice in the header")
    cells = []
    for lineno, row in enumerate(table[1:], 2):
        if len(row) != len(header):
            raise StoreError(f"{path}:{lineno}: expected {len(header)} fields, found {len(row)}")
        cells.append([c.strip() for c in row])
    id_at = header.index("id") if "id" in header else None
    part_at = None
    if partition_column is not None:
        if partition_column not in header:
            raise StoreError(f"--partition-column {partition_column!r}: not a column of {path} "
                             f"(columns: {', '.join(header)})")
        part_at = header.index(partition_column)
        if part_at == id_at:
            raise StoreError(f"--partition-column {partition_column!r}: is the id column")
    if id_at is None:
        order = None  # row by row
        if len(cells) != n:
            raise StoreError(f"{path}: {len(cells):,} data rows for {n:,} rows of z (without an 'id' column rows"
                             " are matched in order, so the counts must agree)")
    else:
        csv_ids = [r[id_at] for r in cells]
        if ids is None:
            _check_ids(csv_ids, n, f"{path} (column 'id')")
            ids, order = csv_ids, np.arange(n)
        else:
            where: dict[str, int] = {}
            for lineno, i in enumerate(csv_ids, 2):
                if i in where:
                    raise StoreError(f"{path}: id {i!r} appears twice (lines {where[i]} and {lineno})")
                where[i] = lineno
            order = np.array([where.get(i, 1) - 2 for i in ids], dtype=np.int64)  # -1: not in the CSV
            if (order < 0).all():
                raise StoreError(f"{path}: none of its ids matches an id of the array (CSV has {csv_ids[0]!r}, "
                                 f"the array {ids[0]!r})")

    def by_row(values: np.ndarray, missing):
        if order is None:
            return values
        out = np.full((n, *values.shape[1:]), missing, dtype=values.dtype)
        out[order >= 0] = values[order[order >= 0]]
        return out

    partition = None
    if part_at is not None:
        codes = []
        for lineno, row in enumerate(cells, 2):
            value = row[part_at].lower()
            if value not in _PARTITION_VALUES:
                raise StoreError(f"{path}:{lineno}: partition {row[part_at]!r} is not train, val or test "
                                 "(or 0, 1, 2; empty for none)")
            codes.append(_PARTITION_VALUES[value])
        partition = by_row(np.asarray(codes, np.int8), -1)
    skip = {j for j in (id_at, part_at) if j is not None}
    try:
        names, matrix = binary_columns(path, header, cells, skip=skip)
    except DataSourceError as exc:
        raise StoreError(str(exc)) from None
    attributes = by_row(matrix, 0) if names else None
    matched = n if order is None else int((order >= 0).sum())
    return _Labels(ids, partition, names or None, attributes, matched)


def import_array(
    array,
    out,
    *,
    ids=None,
    attributes=None,
    partition_column: str | None = None,
    key: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write z-points saved by any framework as a complete z-store.

    Parameters
    ----------
    array : path-like
        ``.npy``, ``.npz`` (the array ``z``, or its only array; an ``ids``
        array of strings is used as ids), ``.parquet`` or ``.csv`` (numeric
        columns are z, or one column of vectors; a column named ``id`` gives
        ids; a CSV without a header row is read as numbers only) or ``.pt``
        (a tensor, or a dict with a tensor ``z``; needs PyTorch, loaded with
        ``weights_only``). One row per point: shape (N, z_dim).
    out : path-like
        z-store to write (refused when it exists, unless ``overwrite``).
    ids : path-like, optional
        Ids, one per line (UTF-8 text) or a 1-D ``.npy`` array of strings;
        unique, N of them. Default: the array's own ids, else the attribute
        CSV's ``id`` column, else ``0 … N-1``.
    attributes : path-like, optional
        CSV with a header row. With an ``id`` column its rows are matched by
        id (points missing from it get 0 = unknown); without one row *i*
        labels point *i*. Columns become ±1 ``/attributes`` as for
        ``latentlab encode --attributes`` (categories one-hot).
    partition_column : str, optional
        Column of ``attributes`` holding train / val / test (or 0 / 1 / 2;
        empty = none): stored as ``/partition`` instead of an attribute.
    key : str, optional
        ``.npz``: the array to read.
    overwrite : bool, default False

    Returns
    -------
    Path
        ``out``. Root attributes record the source file, its SHA-256 and
        format (``dataset = "import"``), and the ids / attributes files.

    Raises
    ------
    StoreError
        Unknown format, an array that is not 2-D real numbers, a value that
        is NaN or Inf in float32, an input larger than half this machine's
        memory, ids that are missing, repeated or of the wrong count, a bad
        attribute CSV. Nothing is written then.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from latentlab import open_store
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> np.save(d / "z.npy", np.arange(12.0).reshape(4, 3))
    >>> _ = (d / "labels.csv").write_text("label\\ncat\\ndog\\ncat\\ndog\\n")
    >>> path = import_array(d / "z.npy", d / "z.h5", attributes=d / "labels.csv")
    >>> with open_store(path) as s:
    ...     print(s.n, s.z_dim, s.attribute_names, s.attrs["dataset"])
    4 3 ['label=cat', 'label=dog'] import
    """
    from .._checks import check_new_output
    from ._writer import StoreWriter

    array, out = Path(array), Path(out)
    fmt = IMPORT_FORMATS.get(array.suffix.lower())
    if fmt is None:
        raise StoreError(f"{array}: unknown format {array.suffix or '(no suffix)'!r}; import reads "
                         ".npy, .npz, .parquet, .csv and .pt")
    if partition_column is not None and attributes is None:
        raise StoreError("--partition-column names a column of the --attributes CSV: give --attributes too")
    if key is not None and fmt != "npz":
        raise StoreError(f"--key selects an array of an .npz file; {array} is {fmt}")
    inputs = [("array", array)] + [(w, Path(p)) for w, p in (("ids", ids), ("attributes", attributes)) if p is not None]
    check_new_output(out, "--out", overwrite=overwrite)
    for what, p in inputs:
        _regular_file(p, what)
        if out.exists() and os.path.samefile(p, out):
            raise StoreError(f"--out {out}: is the {what} input; choose another file")
    size = _regular_file(array, "array")
    if fmt == "npy":
        points = _read_npy(array)
    elif fmt == "npz":
        points = _read_npz(array, key)
    elif fmt == "parquet":
        points = _read_parquet(array)
    elif fmt == "csv":
        points = _read_csv(array, size)
    else:
        points = _read_pt(array)
    n, z_dim = (int(v) for v in points.z.shape)
    row_ids = points.ids
    if row_ids is not None:
        _check_ids(row_ids, n, f"{array} (its ids)")
    if ids is not None:
        row_ids = _read_ids_file(Path(ids), n)
    labels = _Labels(row_ids, None, None, None, n)
    if attributes is not None:
        labels = _read_labels(Path(attributes), n, row_ids, partition_column)
    row_ids = labels.ids if labels.ids is not None else [str(i) for i in range(n)]
    attrs = {
        "dataset": "import", "source": str(array.resolve()), "source_format": fmt,
        "source_sha256": _sha256(array), **points.info,
        "ids_file": str(Path(ids).resolve()) if ids is not None else None,
        "attributes_file": str(Path(attributes).resolve()) if attributes is not None else None,
        "partition_column": partition_column,
    }
    with StoreWriter(out, z_dim, attrs=attrs, attribute_names=labels.names, has_partition=labels.partition is not None,
                     mode="overwrite" if overwrite else "create", atomic=True) as writer:
        for start in range(0, n, _BLOCK_ROWS):
            stop = min(n, start + _BLOCK_ROWS)
            with np.errstate(over="ignore", invalid="ignore"):
                block = np.asarray(points.z[start:stop], dtype=np.float32)
            finite = np.isfinite(block).all(axis=1)
            if not finite.all():
                row = start + int(np.flatnonzero(~finite)[0])
                bad = int((~finite).sum())
                raise StoreError(f"{array}: row {row} (id {row_ids[row]!r}) is not finite in float32 (NaN, Inf or "
                                 f"beyond ±3.4e38); {bad} such row(s) in rows {start}..{stop - 1}; nothing was written")
            writer.append(
                block, row_ids[start:stop],
                None if labels.partition is None else labels.partition[start:stop],
                None if labels.attributes is None else labels.attributes[start:stop],
            )
    return out


#: Rows :func:`subset_store` keeps when no ``n`` is given.
DEFAULT_SUBSET_ROWS = 10_000


def subset_store(store, out, n: int | None = None, *, partition: str | None = None, seed: int = 0,
                 overwrite: bool = False) -> Path:
    """Write ``n`` rows drawn at random (without replacement) from a store, in their original order.

    Ids, ``/partition`` and ``/attributes`` of the chosen rows come along, and
    so do the provenance attributes (the model that encoded them, the image
    source), so decoding and reconstruction work on the subset as on the store.

    Parameters
    ----------
    store : path-like
    out : path-like
        The new store (refused when it exists, unless ``overwrite``).
    n : int, optional
        Rows to keep; at most the rows available. Default: 10,000, or every
        row of the pool when it holds fewer.
    partition : {'train', 'val', 'test'}, optional
        Draw only from this partition (default: all rows).
    seed : int, default 0
        Same seed, same rows.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from latentlab import open_store, write_store
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_store(d / "z.h5", np.random.default_rng(0).normal(size=(100, 4)))
    >>> with open_store(subset_store(d / "z.h5", d / "s.h5", 10, seed=1)) as s:
    ...     print(s.n, s.attrs["subset_n"], s.attrs["subset_of_rows"])
    10 10 100
    """
    from .._checks import check_int, check_new_output
    from ._reader import open_store
    from ._writer import StoreWriter

    store, out = Path(store), Path(out)
    n = check_int(n, "--n", optional=True)
    seed = check_int(seed, "--seed", minimum=0)
    check_new_output(out, "--out", overwrite=overwrite)
    if out.exists() and store.exists() and os.path.samefile(store, out):
        raise StoreError(f"--out {out}: is the input store; choose another file")
    with open_store(store) as s:
        sel = s.selection(partition) if partition not in (None, "all") else None
        pool = s.n if sel is None else len(sel)
        if n is None:
            n = min(DEFAULT_SUBSET_ROWS, pool)
        if n > pool:
            where = f" in partition {partition!r}" if sel is not None else ""
            raise StoreError(f"--n {n}: the store has {pool:,} rows{where}")
        picked = np.sort(np.random.default_rng(seed).choice(pool, size=n, replace=False))
        rows = picked if sel is None else np.sort(sel[picked])
        skip = {"z_dim", "n", "complete", "n_skipped", "created", "latentlab_version"}
        attrs = {k: v for k, v in s.attrs.items() if k not in skip}
        attrs.update({"subset_of": str(store.resolve()), "subset_of_fingerprint": s.fingerprint,
                      "subset_of_rows": s.n, "subset_n": n, "subset_seed": seed,
                      "subset_partition": partition or "all"})
        names = s.attribute_names if s.attributes is not None else None
        with StoreWriter(out, s.z_dim, attrs=attrs, attribute_names=names, has_partition=s.partition is not None,
                         mode="overwrite" if overwrite else "create", atomic=True) as writer:
            step = s.chunk_rows * max(1, _BLOCK_ROWS // s.chunk_rows)
            for start in range(0, s.n, step):  # streamed: memory independent of the store's size
                stop = min(s.n, start + step)
                take = rows[(rows >= start) & (rows < stop)]
                if not len(take):
                    continue
                local = take - start
                writer.append(
                    np.asarray(s.z[start:stop])[local],
                    [str(i) for i in s.ids[start:stop][local]] if s.ids is not None else [str(i) for i in take],
                    None if s.partition is None else np.asarray(s.partition[start:stop])[local],
                    None if s.attributes is None else np.asarray(s.attributes[start:stop])[local],
                )
    return out
