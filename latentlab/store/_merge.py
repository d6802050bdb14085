"""Join the part stores of a sharded encode (``latentlab encode --shard I/N``) into one store."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._errors import StoreError
from ._reader import open_store
from ._writer import StoreWriter

#: Root attributes that only describe one part; the merged store drops them.
SHARD_ATTRS = ("shard_index", "shard_count", "shard_start", "shard_stop")
#: Root attributes every part must share.
_SAME = ("z_dim", "model_sha256", "source", "dataset", "image_size", "channels", "crop", "source_rows")
#: Rows copied per block.
_BLOCK = 65536


def _norm(v):
    return tuple(_norm(x) for x in v) if isinstance(v, (list, tuple)) else v


def merge_stores(
    parts: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    progress=None,
) -> Path:
    """Concatenate the parts of a sharded encode, in shard order, into one z-store.

    The result is the store a single-process ``latentlab encode`` writes:
    the same ``/z``, ``/ids``, ``/partition``, ``/attributes`` and
    ``/skipped``, and the same provenance attributes (without the
    ``shard_*`` ones). The data are copied (streamed in blocks), not linked
    with an HDF5 virtual dataset, so the merged file stands alone: it stays
    valid when the parts are moved or deleted, and any HDF5 reader opens it.

    Parameters
    ----------
    parts : sequence of path-like
        The part stores, in any order: shards ``0 … N-1`` of one ``N``, all
        complete, from the same model (``model_sha256``) and source, with
        contiguous, non-overlapping row ranges.
    out : path-like
        The merged store to write.
    overwrite : bool
        Replace ``out`` if it exists.
    progress : callable, optional
        Called as ``progress(rows_done, rows_total)`` after each block.

    Returns
    -------
    Path of ``out``.

    Raises
    ------
    StoreError
        Missing, incomplete, mismatched, duplicated or overlapping parts, or
        a missing shard.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from latentlab import open_store, write_store
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> shard = lambda i: {"shard_index": i, "shard_count": 2, "shard_start": 3 * i, "shard_stop": 3 * i + 3}
    >>> parts = [write_store(d / f"part{i}.h5", np.full((3, 2), i), ids=[f"{i}{j}" for j in "abc"], attrs=shard(i))
    ...          for i in range(2)]
    >>> with open_store(merge_stores(parts, d / "z.h5")) as store:
    ...     store.n, list(store.read_ids()[:4])
    (6, ['0a', '0b', '0c', '1a'])
    """
    paths = [Path(p) for p in parts]
    if not paths:
        raise StoreError("merge: no part stores given")
    out = Path(out)
    if out.exists() and not overwrite:
        raise StoreError(f"{out}: already exists (use --overwrite to replace it)")
    if any(p.resolve() == out.resolve() for p in paths if p.exists()):
        raise StoreError(f"{out}: is also one of the parts; write the merged store to a new file")
    info = [_read_part(p) for p in paths]
    _check_same_encode(info)
    ordered = _in_shard_order(info)
    _check_contiguous(ordered)
    _copy_parts(ordered, out, overwrite=overwrite, progress=progress)
    return out


def _read_part(p: Path) -> dict:
    """What the checks need from one part: its shard attributes, row count and layout."""
    with open_store(p, allow_incomplete=True) as s:
        if not s.complete:
            raise StoreError(f"{p}: part is incomplete ({s.n} rows); finish it with `latentlab encode --shard ... --resume`")
        missing = [k for k in SHARD_ATTRS if k not in s.attrs]
        if missing:
            raise StoreError(f"{p}: not a shard part (no {missing[0]} attribute; write parts with `latentlab encode --shard I/N`)")
        return {
            "path": p, "n": s.n, "attrs": dict(s.attrs), "has_partition": s.partition is not None,
            "attribute_names": list(s.attribute_names) if s.attributes is not None else None,
            "index": int(s.attrs["shard_index"]), "count": int(s.attrs["shard_count"]),
            "start": int(s.attrs["shard_start"]), "stop": int(s.attrs["shard_stop"]),
        }


def _check_same_encode(info: list[dict]) -> None:
    """Every part comes from the first one's encode: same provenance, shard count and layout."""
    first = info[0]
    for part in info[1:]:
        for key in _SAME:
            a, b = first["attrs"].get(key), part["attrs"].get(key)
            if _norm(a) != _norm(b):
                raise StoreError(f"{part['path']}: {key} is {b!r} but {first['path'].name} has {a!r}; parts must come from one encode")
        if part["count"] != first["count"]:
            raise StoreError(f"{part['path']}: shard {part['index']}/{part['count']} does not belong with {first['path'].name} (of {first['count']})")
        if part["has_partition"] != first["has_partition"] or part["attribute_names"] != first["attribute_names"]:
            raise StoreError(f"{part['path']}: /partition or /attributes differ from {first['path'].name}")


def _in_shard_order(info: list[dict]) -> list[dict]:
    """The parts sorted by shard index; each of ``0 … N-1`` exactly once."""
    count = info[0]["count"]
    by_index: dict[int, dict] = {}
    for part in info:
        if part["index"] in by_index:
            raise StoreError(f"{part['path']}: shard {part['index']}/{count} given twice (also {by_index[part['index']]['path']})")
        by_index[part["index"]] = part
    absent = sorted(set(range(count)) - set(by_index))
    if absent:
        raise StoreError(f"merge: shard(s) {', '.join(f'{i}/{count}' for i in absent)} missing")
    return [by_index[i] for i in range(count)]


def _check_contiguous(ordered: list[dict]) -> None:
    """The shards' source rows follow each other without gap or overlap and cover the source."""
    count, expected = ordered[0]["count"], 0
    for part in ordered:
        if part["start"] != expected:
            raise StoreError(
                f"{part['path']}: shard {part['index']}/{count} covers rows {part['start']}–{part['stop']}"
                f" but the previous shard ends at {expected} (overlap or gap)"
            )
        expected = part["stop"]
    total_source = ordered[0]["attrs"].get("source_rows")
    if total_source is not None and expected != int(total_source):
        raise StoreError(f"merge: the shards cover {expected} of {total_source} source rows")


def _copy_parts(ordered: list[dict], out: Path, *, overwrite: bool, progress) -> None:
    """Append every part's rows, ids, partitions, attributes and skipped images to ``out``, in order."""
    first = ordered[0]
    attrs = {k: v for k, v in first["attrs"].items()
             if k not in (*SHARD_ATTRS, "source_rows", "complete", "n", "created", "z_dim", "latentlab_version")}
    total = sum(p["n"] for p in ordered)
    seen: set[str] = set()
    done = 0
    with StoreWriter(
        out, int(first["attrs"]["z_dim"]), attrs=attrs, attribute_names=first["attribute_names"],
        has_partition=first["has_partition"], mode="overwrite" if overwrite else "create",
    ) as w:
        for part in ordered:
            with open_store(part["path"]) as s:
                for a in range(0, s.n, _BLOCK):
                    b = min(s.n, a + _BLOCK)
                    ids = list(s.ids[a:b]) if s.ids is not None else [str(i) for i in range(a, b)]
                    if not seen.isdisjoint(ids):
                        dup = next(i for i in ids if i in seen)
                        raise StoreError(f"{part['path']}: id {dup!r} is also in an earlier part (overlapping shards)")
                    seen.update(ids)
                    w.append(
                        np.asarray(s.z[a:b], np.float32), ids,
                        s.partition[a:b] if s.partition is not None else None,
                        s.attributes[a:b] if s.attributes is not None else None,
                    )
                    done += b - a
                    if progress:
                        progress(done, total)
                skipped = s.skipped()
                if skipped:
                    w.add_skipped([p for p, _ in skipped], [r for _, r in skipped])


__all__ = ["merge_stores"]
