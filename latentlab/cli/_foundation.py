"""CLI: train, encode, info, demo, merge."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import app


@app.command()
def info(
    store: Annotated[Path, typer.Argument(help="z-store HDF5 file")],
    check: Annotated[bool, typer.Option("--check", help="Scan /z for NaN/Inf rows and list their ids.")] = False,
    allow_incomplete: Annotated[bool, typer.Option(help="Describe an unfinished store too.")] = True,
) -> int:
    """Print N, z_dim, provenance and completeness of a z-store."""
    from ..store import open_store

    with open_store(store, allow_incomplete=allow_incomplete) as s:
        typer.echo(f"store       {s.path}")
        typer.echo(f"rows        {s.n}")
        typer.echo(f"z_dim       {s.z_dim}")
        typer.echo(f"complete    {'yes' if s.complete else 'NO (resume with latentlab encode --resume)'}")
        typer.echo(f"partition   {'yes' if s.partition is not None else 'no'}")
        typer.echo(f"attributes  {len(s.attribute_names) if s.attributes is not None else 'no'}")
        skipped = s.skipped()
        typer.echo(f"skipped     {len(skipped)} image(s)")
        for key in ("dataset", "source", "image_size", "channels", "model_sha256", "latentlab_version", "created"):
            if key in s.attrs:
                typer.echo(f"{key:<11} {s.attrs[key]}")
        if check:
            bad = s.check_finite()
            if len(bad):
                ids = s.ids[bad] if s.ids is not None else bad
                typer.echo(f"non-finite  {len(bad)} row(s): " + ", ".join(map(str, ids[:50])) + (" …" if len(bad) > 50 else ""))
                return 1
            typer.echo("non-finite  none")
    return 0
