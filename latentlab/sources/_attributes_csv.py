"""Per-image labels or attributes from a CSV file, for any image source (``--attributes FILE.csv``).

The store keeps attributes as int8 +1 / −1 columns (``docs/format.md``), so
every CSV column becomes one or more binary columns:

* two-valued columns (``1/-1``, ``1/0``, ``true/false``, ``yes/no``, any case)
  become one column named like the CSV column (+1 for 1 / true / yes);
* any other column with at most :data:`MAX_CATEGORIES` distinct values is
  one-hot encoded as ``column=value`` columns (+1 where the row has that value);
* a column with more distinct values (a continuous measurement, free text)
  is refused with a one-line error: bin it into categories first.

Empty cells and images missing from the CSV get 0 (unknown) in every column.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from .._errors import DataSourceError

__all__ = ["MAX_CATEGORIES", "MAX_CSV_BYTES", "MAX_CSV_CELLS", "MAX_CSV_COLUMNS", "read_attributes_csv",
           "with_csv_attributes"]

#: Most distinct values a categorical column may have (one-hot columns it becomes).
MAX_CATEGORIES = 64

_TRUE = {"1", "+1", "true", "yes", "y", "t"}
_FALSE = {"-1", "0", "false", "no", "n", "f"}


def _sort_key(value: str):
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


#: Largest attribute CSV read (CelebA's 40 attributes for 202,599 images are 25 MB); checked before reading.
MAX_CSV_BYTES = 1 << 30
#: Most cells (rows x columns) parsed: CelebA has 8.3 million; 50 million strings take a few GB in Python.
MAX_CSV_CELLS = 50_000_000
#: Most columns, in the CSV and after one-hot encoding (the store's /attributes reader takes at most 65,536).
MAX_CSV_COLUMNS = 65_536


def _read_table(path: Path) -> list[list[str]]:
    """The non-blank rows of a CSV, its size, columns and cells capped before and while reading."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise DataSourceError(f"{path}: not a regular file")
    except OSError as exc:
        raise DataSourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size > MAX_CSV_BYTES:
        raise DataSourceError(f"{path}: {size / 2**20:,.0f} MiB; an attribute CSV is read only up to "
                              f"{MAX_CSV_BYTES / 2**20:,.0f} MiB")
    table, cells = [], 0
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for lineno, row in enumerate(csv.reader(fh), 1):
                if not any(c.strip() for c in row):
                    continue
                if len(row) > MAX_CSV_COLUMNS:
                    raise DataSourceError(f"{path}:{lineno}: {len(row):,} fields; at most {MAX_CSV_COLUMNS:,} columns")
                cells += len(row)
                if cells > MAX_CSV_CELLS:
                    raise DataSourceError(f"{path}: more than {MAX_CSV_CELLS:,} cells (rows x columns); "
                                          "split the file or drop columns")
                table.append(row)
    except OSError as exc:
        raise DataSourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise DataSourceError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as exc:
        raise DataSourceError(f"{path}: not a readable CSV ({str(exc).splitlines()[0] if str(exc) else exc})") from None
    return table


def read_attributes_csv(path: str | os.PathLike, *, id_column: str | None = None) -> tuple[list[str], dict[str, np.ndarray]]:
    """Parse an attribute CSV into binary ±1 columns.

    Parameters
    ----------
    path : path-like
        A CSV with a header row; one row per image.
    id_column : str, optional
        Column holding the image ids (default ``id`` if present, else the first column).

    Returns
    -------
    names : list of str
        The binary columns (see the module docstring for how columns map).
    rows : dict id → int8 array of +1 / −1 / 0 (unknown)

    Raises
    ------
    DataSourceError
        Unreadable file, no header, missing id column, duplicate ids, or a
        column with too many distinct values.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = p.write_text("id,smiling,colour\\na,1,red\\nb,0,blue\\n")
    >>> names, rows = read_attributes_csv(p)
    >>> names, rows["a"].tolist()
    (['smiling', 'colour=blue', 'colour=red'], [1, -1, 1])
    """
    path = Path(path)
    table = _read_table(path)
    if len(table) < 2:
        raise DataSourceError(f"{path}: expected a header row and at least one data row")
    header = [h.strip() for h in table[0]]
    if id_column is None:
        id_column = "id" if "id" in header else header[0]
    if id_column not in header:
        raise DataSourceError(f"{path}: no id column {id_column!r} (columns: {', '.join(map(repr, header))[:300]})")
    id_at = header.index(id_column)
    ids, cells = [], []
    for lineno, row in enumerate(table[1:], 2):
        if len(row) != len(header):
            raise DataSourceError(f"{path}:{lineno}: expected {len(header)} fields, found {len(row)}")
        ids.append(row[id_at].strip())
        cells.append([c.strip() for c in row])
    seen = set()
    for i in ids:
        if i in seen:
            raise DataSourceError(f"{path}: id {i!r} appears more than once")
        seen.add(i)
    names, matrix = binary_columns(path, header, cells, skip={id_at})
    if not names:
        raise DataSourceError(f"{path}: no attribute columns besides the id column {id_column!r}")
    return names, {i: matrix[r] for r, i in enumerate(ids)}


def binary_columns(path, header: list[str], cells: list[list[str]], *, skip=()) -> tuple[list[str], np.ndarray]:
    """Columns of a parsed CSV (``cells``: stripped strings, one list per row) as ±1 columns.

    Columns whose index is in ``skip`` are left out. Returns the column names
    and an int8 matrix (rows × names); see the module docstring for the mapping.
    """
    names, columns = [], []
    for j, col in enumerate(header):
        if j in skip:
            continue
        values = [r[j] for r in cells]
        present = {v for v in values if v != ""}
        lowered = {v.lower() for v in present}
        if lowered and lowered <= (_TRUE | _FALSE) and len(lowered & _TRUE) <= 1 and len(lowered & _FALSE) <= 1:
            names.append(col)
            columns.append(np.array([0 if v == "" else (1 if v.lower() in _TRUE else -1) for v in values], np.int8))
            continue
        if len(present) > MAX_CATEGORIES:
            raise DataSourceError(
                f"{path}: column {col!r} has {len(present)} distinct values; attributes are binary (+1/-1) and"
                f" categories are one-hot up to {MAX_CATEGORIES}: bin it into categories or drop it"
            )
        for value in sorted(present, key=_sort_key):
            names.append(f"{col}={value}")
            columns.append(np.array([0 if v == "" else (1 if v == value else -1) for v in values], np.int8))
    if len(names) > MAX_CSV_COLUMNS:
        raise DataSourceError(f"{path}: {len(names):,} attribute columns after one-hot encoding; at most "
                              f"{MAX_CSV_COLUMNS:,}")
    matrix = np.stack(columns, axis=1) if columns else np.zeros((len(cells), 0), np.int8)
    return names, matrix


def with_csv_attributes(source, path: str | os.PathLike, *, id_column: str | None = None):
    """Add a CSV's attribute columns to an image source (after any it already has).

    Raises
    ------
    DataSourceError
        When no image id of the source appears in the CSV, or a column name
        repeats one the source already has.
    """
    names, rows = read_attributes_csv(path, id_column=id_column)
    matched = sum(1 for i in source.ids if i in rows)
    if matched == 0:
        example = next(iter(rows))
        raise DataSourceError(
            f"{path}: none of its ids matches an image of the source (CSV has {example!r}, the source {source.ids[0]!r})"
        )
    zero = np.zeros(len(names), dtype=np.int8)
    extra = np.stack([rows.get(i, zero) for i in source.ids])
    old_names = list(source.attribute_names or [])
    clash = sorted(set(old_names) & set(names))
    if clash:
        raise DataSourceError(f"{path}: attribute {clash[0]!r} already comes from the image source")
    if source.attributes is not None:
        source.attributes = np.concatenate([np.asarray(source.attributes, np.int8), extra], axis=1)
    else:
        source.attributes = extra
    source.attribute_names = old_names + names
    return source
