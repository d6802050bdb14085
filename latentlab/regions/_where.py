"""Rows on a condition: ``--where NAME=VALUE`` (repeatable, AND) over a store's ``/attributes``.

A store keeps attributes as ±1 columns (0 = unknown; ``docs/format.md``), so a
condition compares one column with one value:

* ``Smiling=1``, ``Eyeglasses=-1``, ``Bag=1`` — the column named ``NAME``
  equals the value (``yes``/``true`` mean 1, ``no``/``false`` mean −1);
* ``label=Bag`` — for one-hot labels (Fashion-MNIST's classes, CSV
  ``column=value`` columns): the column ``Bag`` (or ``label=Bag``) is +1.

Every condition must hold (AND). An unknown name or value is a one-line
:class:`~latentlab.LatentlabError`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .._errors import LatentlabError

__all__ = ["describe_where", "parse_where", "where_mask", "where_rows"]

_TRUE = {"1", "+1", "yes", "true", "y", "t"}
_FALSE = {"-1", "no", "false", "n", "f"}
_UNKNOWN = {"0", "unknown"}
#: Names that select a one-hot column by its value (``label=Bag``).
_LABEL_KEYS = ("label", "class")


def parse_where(items) -> dict:
    """``["Smiling=1", "label=Bag"]`` (or a dict) → ``{"Smiling": "1", "label": "Bag"}``.

    Examples
    --------
    >>> parse_where(["Smiling=1", " Male = -1 "])
    {'Smiling': '1', 'Male': '-1'}
    >>> parse_where(None)
    {}
    """
    if items is None:
        return {}
    if isinstance(items, Mapping):
        return {str(k).strip(): str(v).strip() for k, v in items.items()}
    out = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip() or not value.strip():
            raise LatentlabError(f"--where: expected NAME=VALUE (e.g. Smiling=1 or label=Bag), got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _value(name: str, value) -> int:
    text = str(value).strip().lower()
    if text in _TRUE:
        return 1
    if text in _FALSE:
        return -1
    if text in _UNKNOWN:
        return 0
    raise LatentlabError(f"--where {name}={value}: the value must be 1, -1 or 0 (yes/no)")


def _conditions(names: list, where: dict) -> list[tuple[int, int]]:
    """``(column, value)`` per condition."""
    out = []
    for key, value in where.items():
        if key in names:
            out.append((names.index(key), _value(key, value)))
        elif key in _LABEL_KEYS and (str(value) in names or f"{key}={value}" in names):
            column = str(value) if str(value) in names else f"{key}={value}"
            out.append((names.index(column), 1))
        else:
            known = ", ".join(names[:12]) + (" …" if len(names) > 12 else "") if names else "none (the store has no /attributes)"
            raise LatentlabError(f"--where {key}={value}: unknown attribute {key if key not in _LABEL_KEYS else value!r}; known: {known}")
    return out


def where_mask(store, where) -> np.ndarray:
    """Boolean mask over the store's rows: every condition of ``where`` holds.

    Examples
    --------
    >>> from latentlab.store._rows import ArrayStore
    >>> s = ArrayStore(np.zeros((4, 2))); s.attribute_names = ["Bag", "Coat"]
    >>> s.attributes = np.array([[1, -1], [-1, 1], [1, -1], [-1, -1]], np.int8)
    >>> where_mask(s, {"label": "Bag"}).tolist(), where_mask(s, {"Bag": "-1", "Coat": "no"}).tolist()
    ([True, False, True, False], [False, False, False, True])
    """
    where = parse_where(where)
    names = list(getattr(store, "attribute_names", []) or [])
    conditions = _conditions(names, where)
    if getattr(store, "attributes", None) is None:
        raise LatentlabError(f"{getattr(store, 'path', 'store')}: --where needs /attributes; the store has none")
    labels = np.asarray(store.attributes[:])
    mask = np.ones(len(labels), dtype=bool)
    for column, value in conditions:
        mask &= labels[:, column] == value
    return mask


def where_rows(store, where, rows=None, *, minimum: int = 2) -> np.ndarray:
    """Sorted row indices (within ``rows`` when given) where ``where`` holds; at least ``minimum`` of them.

    Raises
    ------
    LatentlabError
        An unknown name or value, or fewer than ``minimum`` rows selected.
    """
    mask = where_mask(store, where)
    if rows is not None:
        keep = np.zeros_like(mask)
        keep[np.asarray(rows, dtype=np.int64)] = True
        mask &= keep
    picked = np.flatnonzero(mask)
    if len(picked) < minimum:
        raise LatentlabError(f"--where {describe_where(where)}: selects {len(picked)} row(s); at least {minimum} needed")
    return picked


def describe_where(where) -> str:
    """``{"Smiling": "1", "Male": "-1"}`` → ``"Smiling=1 Male=-1"``."""
    return " ".join(f"{k}={v}" for k, v in parse_where(where).items())
