"""CLI: import (z-points from any framework → z-store) and subset (a smaller store). No TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import app
from ._common import reads_store


@app.command("import")
def import_cmd(
    array: Annotated[Path, typer.Argument(help="z-points, one row per point: .npy, .npz, .parquet, .csv or .pt (needs PyTorch).")],
    out: Annotated[Path, typer.Option("--out", help="z-store (HDF5) to write.")],
    ids: Annotated[Optional[Path], typer.Option("--ids", help="Ids, one per line (or a .npy of strings); default: the array's, the CSV's id column, else 0..N-1.")] = None,
    attributes: Annotated[Optional[Path], typer.Option("--attributes", help="CSV of labels: matched by its 'id' column, or row by row without one; columns become ±1 /attributes.")] = None,
    partition_column: Annotated[Optional[str], typer.Option("--partition-column", help="Column of --attributes with train/val/test (or 0/1/2), stored as /partition.")] = None,
    key: Annotated[Optional[str], typer.Option("--key", help=".npz: the array holding z (default 'z', or its only array).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing store.")] = False,
) -> int:
    """Make a z-store from latent points computed elsewhere (PyTorch, JAX, …): every analysis works on it without a model."""
    from ..store import open_store
    from ..store._import import import_array

    path = import_array(array, out, ids=ids, attributes=attributes, partition_column=partition_column, key=key,
                        overwrite=overwrite)
    with open_store(path) as s:
        extra = []
        if s.partition is not None:
            counts = {name: int((s.partition[:] == code).sum()) for name, code in (("train", 0), ("val", 1), ("test", 2))}
            extra.append("partition " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
        if s.attributes is not None:
            extra.append(f"{len(s.attribute_names)} attribute column(s)")
        typer.echo(f"{path}: {s.n:,} rows, z_dim {s.z_dim}" + (f"; {'; '.join(extra)}" if extra else ""))
    return 0


@app.command()
@reads_store("store")
def subset(
    store: Annotated[Path, typer.Argument(help="z-store to draw rows from.")],
    out: Annotated[Path, typer.Option("--out", help="Smaller z-store to write.")],
    n: Annotated[Optional[int], typer.Option("--n", help="Rows to keep (drawn at random without replacement, kept in order); default 10,000 or all when fewer.")] = None,
    partition: Annotated[str, typer.Option("--partition", help="Draw only from train, val or test (default: all rows).")] = "all",
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same rows).")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing store.")] = False,
) -> int:
    """Write a random subset of a store's rows, with their ids, partitions and attributes (a quick look at a big store)."""
    from ..store import open_store
    from ..store._import import subset_store

    path = subset_store(store, out, n, partition=partition, seed=seed, overwrite=overwrite)
    with open_store(path) as s:
        typer.echo(f"{path}: {s.n:,} rows of {store} ({partition}, seed {seed})")
    return 0
