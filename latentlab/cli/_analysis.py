"""CLI: components, correlations, radii, pca, report.

Each command streams the z-store through one API function of
:mod:`latentlab.analysis` (no TensorFlow), writes its JSON / figures into
``--out`` and prints a short summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import app

_PARTITION_HELP = "Rows to analyse: train, val, test or all (default all)."
_ENGINE_HELP = "numpy (in-process streaming) or dask (dask.array over the HDF5 chunks)."
_SCHED_HELP = "Dask scheduler address for --engine dask (default: $DASK_SCHEDULER_ADDRESS or local threads)."


def _out_dir(store: Path, out: Optional[Path]) -> Path:
    """``--out`` or ``<store dir>/<store stem>_analysis``."""
    out = out if out is not None else store.with_name(f"{store.stem}_analysis")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _write_json(path: Path, data: dict) -> Path:
    import json

    path.write_text(json.dumps(data, indent=1, allow_nan=True) + "\n", encoding="utf-8")
    return path


def _fmt(v, spec=".4g") -> str:
    return "-" if v is None else format(v, spec)


@app.command()
def pca(
    store: Annotated[Path, typer.Argument(help="z-store HDF5 file")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: <store>_analysis next to the store).")] = None,
    report: Annotated[bool, typer.Option("--report", help="Also write DIR/pca.html: one self-contained page with the figures.")] = False,
    partition: Annotated[Optional[str], typer.Option(help=_PARTITION_HELP)] = None,
    n_components: Annotated[Optional[int], typer.Option("--n-components", help="Components kept (default all).")] = None,
    method: Annotated[str, typer.Option(help="auto, exact (streamed covariance) or randomized.")] = "auto",
    chunk_rows: Annotated[Optional[int], typer.Option("--chunk-rows", help="Rows per streamed block.")] = None,
    engine: Annotated[str, typer.Option(help=_ENGINE_HELP)] = "numpy",
    scheduler: Annotated[Optional[str], typer.Option(help=_SCHED_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Seed for subsamples in the report.")] = 0,
) -> int:
    """PCA of the z-cloud: eigenvalue spectrum, explained variance, ellipsoid axes → pca.json, pca.npz."""
    from ..analysis import fit_pca

    out_dir = _out_dir(store, out)
    model = fit_pca(
        store, n_components, partition=partition, chunk_rows=chunk_rows,
        method=method, engine=engine, scheduler=scheduler,
    )
    info = model.to_dict()
    info["store"] = str(store)
    _write_json(out_dir / "pca.json", info)
    model.save(out_dir / "pca.npz")
    ev, ratio = info["eigenvalues"], info["cumulative_explained_variance"]
    typer.echo(f"PCA of {store.name}: {info['n_points']} points, z_dim {info['z_dim']} ({info['method']})")
    typer.echo(f"{'PC':>4} {'eigenvalue':>12} {'sigma':>10} {'cum. ratio':>11}")
    for i in range(min(10, len(ev))):
        typer.echo(f"{i + 1:>4} {ev[i]:>12.5g} {ev[i] ** 0.5:>10.4g} {ratio[i]:>11.4f}")
    typer.echo(
        "components for 50/90/99 % variance: "
        + " / ".join(_fmt(info[f"n_components_{p}"], "d") for p in (50, 90, 99))
    )
    typer.echo(f"wrote {out_dir / 'pca.json'} and {out_dir / 'pca.npz'}")
    if report:
        from ..analysis._sections import pca_page

        page = pca_page(store, out_dir, model=model, partition=partition, seed=seed)
        typer.echo(f"wrote {page}")
    return 0
