"""CLI: ``latentlab fragments`` — fragments, halo and filaments of the z-cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import app
from ._common import reads_store


@app.command()
@reads_store("store")
def fragments(
    store: Annotated[Path, typer.Argument(help="z-store HDF5 file")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default: <store>_fragments next to the store).")] = None,
    k: Annotated[int, typer.Option("--k", help="Neighbours per point in the k-NN graph.")] = 15,
    min_fragment_size: Annotated[Optional[int], typer.Option("--min-fragment-size", help="Smallest fragment (default max(5, min(100, N/200))).")] = None,
    pca_variance: Annotated[float, typer.Option("--pca-variance", help="Keep the PCs holding this share of the variance (1 = all).")] = 0.99,
    metric: Annotated[str, typer.Option(help="euclidean or cosine.")] = "euclidean",
    knn: Annotated[str, typer.Option(help="auto (exact up to 20,000 points), exact or approximate.")] = "auto",
    halo_ratio: Annotated[float, typer.Option("--halo-ratio", help="Density contrast that separates fragments and marks halo points.")] = 1.5,
    filament_threshold: Annotated[float, typer.Option("--filament-threshold", help="Filament score (1 - λ2/λ1) for filament candidates.")] = 0.8,
    min_filament_size: Annotated[Optional[int], typer.Option("--min-filament-size", help="Smallest filament (default max(5, k)).")] = None,
    partition: Annotated[Optional[str], typer.Option(help="Rows to analyse: train, val, test or all (default all).")] = None,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="Write PNG figures and fragments.html.")] = True,
    seed: Annotated[int, typer.Option(help="Random seed (approximate k-NN, subsamples).")] = 0,
) -> int:
    """Fragments, halo and filaments of the z-cloud → fragments.h5, fragments.json, figures, fragments.html."""
    from ..analysis import find_fragments

    out_dir = out if out is not None else store.with_name(f"{store.stem}_fragments")
    result = find_fragments(
        store, k=k, metric=metric, pca_variance=None if pca_variance >= 1.0 else pca_variance,
        min_fragment_size=min_fragment_size, halo_ratio=halo_ratio,
        filament_threshold=filament_threshold, min_filament_size=min_filament_size,
        knn=knn, partition=partition, random_state=seed,
    )
    h5_path, json_path = result.save(out_dir)
    p, s = result.parameters, result.stats
    recall = f", recall {s['knn_recall']:.3f}" if s.get("knn_recall") is not None else ""
    typer.echo(
        f"fragments of {store.name}: {result.n} points, k={p['k']} ({p['knn_method']} k-NN{recall}), "
        f"{p['n_components']} PCs ({p['explained_variance']:.1%} variance), {s['timings_s']['total']:.1f} s"
    )
    sizes = [f["size"] for f in result.fragments]
    shown = ", ".join(str(x) for x in sizes[:8]) + (", ..." if len(sizes) > 8 else "")
    typer.echo(f"fragments: {len(sizes)} (sizes {shown or '-'}); halo: {s['n_halo']} points ({s['halo_fraction']:.1%})")
    typer.echo(f"filaments: {result.n_filaments} with {s['n_filament_points']} points; TwoNN dimension {s['twonn_dimension']:.1f}")
    if result.enrichment:
        n_sig = sum(r["significant"] for g in result.enrichment["groups"] for r in g["rows"])
        typer.echo(f"attribute enrichment: {n_sig} significant (group, attribute) pairs (q < {result.enrichment['alpha']})")
    typer.echo(f"wrote {h5_path} and {json_path}")
    if figures:
        from ..analysis._fragment_section import _summary_html, write_fragment_figures
        from ..report import Section, png_html, write_page

        pngs = write_fragment_figures(result, out_dir)
        body = _summary_html(result) + "".join(png_html(path, caption) for path, caption in pngs)
        page = write_page(out_dir / "fragments.html", f"Fragments of {store.name}", [Section("Fragments and filaments", body)])
        typer.echo(f"wrote figures and {page}")
    return 0
