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
from ._common import DecoderFile, EncoderFile, reads_store

_PARTITION_HELP = "Rows to analyse: train, val, test or all (default all)."
_ENGINE_HELP = "numpy (in-process streaming) or dask (dask.array over the HDF5 chunks)."
_SCHED_HELP = "Dask scheduler address for --engine dask (default: $DASK_SCHEDULER_ADDRESS or local threads)."


def _out_dir(store: Path, out: Optional[Path]) -> Path:
    """``--out`` or ``<store dir>/<store stem>_analysis``."""
    out = out if out is not None else store.with_name(f"{store.stem}_analysis")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _fmt(v, spec=".4g") -> str:
    return "-" if v is None else format(v, spec)


@app.command()
@reads_store("store")
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
    from ..analysis._sections import write_pca_data

    out_dir = _out_dir(store, out)
    model = fit_pca(
        store, n_components, partition=partition, chunk_rows=chunk_rows,
        method=method, engine=engine, scheduler=scheduler,
    )
    page = None
    if report:  # the page writes pca.json and pca.npz along with its figures
        from ..analysis._sections import pca_page

        page = pca_page(store, out_dir, model=model, partition=partition, seed=seed)
    else:
        write_pca_data(model, out_dir, store_path=store)
    info = model.to_dict()
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
    if page is not None:
        typer.echo(f"wrote {page}")
    return 0


def _parse_pairs(values: list[str]) -> list[tuple[int, int]] | None:
    from .._errors import LatentlabError

    pairs = []
    for v in values:
        for tok in v.replace(";", " ").split():
            parts = tok.split(",")
            try:
                i, j = (int(p) for p in parts)
            except ValueError:
                raise LatentlabError(f"--pairs: expected component pairs like 0,1 3,7; got {tok!r}") from None
            pairs.append((i, j))
    return pairs or None


@app.command()
@reads_store("store")
def components(
    store: Annotated[Path, typer.Argument(help="z-store HDF5 file")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: <store>_analysis next to the store).")] = None,
    partition: Annotated[Optional[str], typer.Option(help=_PARTITION_HELP)] = None,
    chunk_rows: Annotated[Optional[int], typer.Option("--chunk-rows", help="Rows per streamed block.")] = None,
    engine: Annotated[str, typer.Option(help=_ENGINE_HELP)] = "numpy",
    scheduler: Annotated[Optional[str], typer.Option(help=_SCHED_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Seed of the subsample used for quantiles and normality tests.")] = 0,
) -> int:
    """Per-component mean, std, skewness, kurtosis, quantiles, normality → components.json/.csv + figures."""
    import numpy as np

    from ..analysis import component_stats
    from ..analysis._sections import write_components

    out_dir = _out_dir(store, out)
    stats = component_stats(store, partition, chunk_rows, engine, scheduler=scheduler, seed=seed)
    write_components(stats, out_dir)
    typer.echo(f"components of {store.name}: {stats.n_points} points, z_dim {stats.z_dim}")
    typer.echo(f"centre offset  {stats.offset:.3f} mean std from the origin (|mean| {stats.mean_norm:.4g}, mean std {stats.mean_std:.4g})")
    typer.echo(f"std range      {stats.std.min():.4g} .. {stats.std.max():.4g}")
    typer.echo(f"|skewness| max {np.abs(stats.skewness).max():.3f}   excess kurtosis range {stats.kurtosis.min():.3f} .. {stats.kurtosis.max():.3f}")
    typer.echo(f"non-normal     {stats.n_non_normal(0.01)} of {stats.z_dim} components (normaltest p < 0.01, {stats.normal_sample} rows)")
    typer.echo(f"wrote {out_dir / 'components.json'}, components.csv and 2 figures")
    return 0


@app.command()
@reads_store("store")
def correlations(
    store: Annotated[Path, typer.Argument(help="z-store HDF5 file")],
    more_pairs: Annotated[Optional[list[str]], typer.Argument(help="More pairs after --pairs (e.g. --pairs 0,1 3,7).", show_default=False, metavar="I,J")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: <store>_analysis next to the store).")] = None,
    pairs: Annotated[Optional[list[str]], typer.Option("--pairs", metavar="I,J", help="Coordinate planes to plot, e.g. --pairs 0,1 3,7 (default: the most correlated).")] = None,
    partition: Annotated[Optional[str], typer.Option(help=_PARTITION_HELP)] = None,
    chunk_rows: Annotated[Optional[int], typer.Option("--chunk-rows", help="Rows per streamed block.")] = None,
    engine: Annotated[str, typer.Option(help=_ENGINE_HELP)] = "numpy",
    scheduler: Annotated[Optional[str], typer.Option(help=_SCHED_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Seed of the subsample shown in scatter plots.")] = 0,
) -> int:
    """Correlation matrix, top pairs, k-σ ellipses and Mahalanobis² vs χ² → correlations.json + figures."""
    from ..analysis import correlations as run
    from ..analysis._sections import write_correlations

    out_dir = _out_dir(store, out)
    chosen = _parse_pairs(list(pairs or []) + list(more_pairs or []))
    res = run(store, partition, chunk_rows, engine, scheduler=scheduler, pairs=chosen, seed=seed)
    figures = write_correlations(res, out_dir)
    info = res.to_dict()
    t = res.maha_test
    typer.echo(f"correlations of {store.name}: {res.n_points} points, z_dim {res.z_dim}")
    typer.echo(f"mean |r| {info['mean_abs_corr']:.3f}   max |r| {info['max_abs_corr']:.3f}")
    for i, j, r in res.top_pairs[:5]:
        typer.echo(f"  z{i:<4} z{j:<4} r = {r:+.3f}")
    typer.echo(f"Mahalanobis² vs chi2({res.maha_dof}): mean {res.maha_mean:.4g}, stat {t['statistic']:.4g}, p = {t['pvalue']:.3g}")
    typer.echo(f"verdict: {t['verdict']}")
    typer.echo(f"wrote {out_dir / 'correlations.json'} and {len(figures)} figures")
    return 0


@app.command()
@reads_store("store")
def radii(
    store: Annotated[Path, typer.Argument(help="z-store HDF5 file")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: <store>_analysis next to the store).")] = None,
    cube_b: Annotated[Optional[float], typer.Option("--cube-b", help="Half-width b of the uniform cube generator (default: fitted to the median radius).")] = None,
    partition: Annotated[Optional[str], typer.Option(help=_PARTITION_HELP)] = None,
    chunk_rows: Annotated[Optional[int], typer.Option("--chunk-rows", help="Rows per streamed block.")] = None,
    engine: Annotated[str, typer.Option(help=_ENGINE_HELP)] = "numpy",
    scheduler: Annotated[Optional[str], typer.Option(help=_SCHED_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Seed of the Monte-Carlo generator samples.")] = 0,
) -> int:
    """Histograms of ‖z‖ and ‖z − mean‖ against cube, ball, N(0, I), N(mean, Σ) → radii.json + figures."""
    from ..analysis import radii as run
    from ..analysis._sections import radii_table, write_radii

    out_dir = _out_dir(store, out)
    res = run(store, partition, chunk_rows, engine, scheduler=scheduler, cube_b=cube_b, seed=seed)
    write_radii(res, out_dir)
    rows, _ = radii_table(res)
    typer.echo(f"radii of {store.name}: {res.n_points} points, z_dim {res.z_dim}, |mean| {res.mean_norm:.4g}")
    typer.echo(f"{'':<44} {'mean':>9} {'std':>9} {'KS |z|':>7} {'KS |z-m|':>8}")
    for r in rows:
        ks = (f"{r[4]:>7.3f} {r[5]:>8.3f}") if r[4] != "" else ""
        typer.echo(f"{str(r[0])[:44]:<44} {r[1]:>9.4g} {r[2]:>9.4g} {ks}")
    typer.echo(f"wrote {out_dir / 'radii.json'} and 2 figures")
    return 0


@app.command("report")
@reads_store("store")
def report_cmd(
    store: Annotated[Path, typer.Argument(help="z-store HDF5 file")],
    out: Annotated[Path, typer.Option("--out", help="Output folder for report.html and its files.")],
    model: Annotated[Optional[Path], typer.Option("--model", help="Model directory (enables sections that decode).")] = None,
    encoder: EncoderFile = None,
    decoder: DecoderFile = None,
    sections: Annotated[Optional[str], typer.Option("--sections", help="Comma-separated sections (default all), e.g. components,pca.")] = None,
    partition: Annotated[Optional[str], typer.Option(help=_PARTITION_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Seed for subsamples.")] = 0,
    quick: Annotated[bool, typer.Option("--quick", help="Smaller samples (faster).")] = False,
    engine: Annotated[str, typer.Option(help=_ENGINE_HELP)] = "numpy",
    scheduler: Annotated[Optional[str], typer.Option(help=_SCHED_HELP)] = None,
) -> int:
    """One self-contained HTML page with every analysis section → DIR/report.html."""
    from ..report import build_report

    wanted = [s.strip() for s in sections.split(",") if s.strip()] if sections else None
    page = build_report(
        store, out, model_dir=model, encoder_path=encoder, decoder_path=decoder, sections=wanted, partition=partition, seed=seed, quick=quick,
        options={"engine": engine, "scheduler": scheduler},
        progress=lambda name: typer.echo(f"  {name} …", err=True),
    )
    typer.echo(str(page))
    return 0
