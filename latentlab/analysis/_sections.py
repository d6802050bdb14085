"""Report sections and on-disk outputs of the distribution analyses.

``write_*`` functions save an analysis result into a folder (JSON, CSV,
PNG figures) and return the figures as ``(file name, caption)``; the CLI
and the report builders share them. Section builders
(:data:`latentlab.report.SECTION_BUILDERS`) run an analysis on
``ctx.store_path``, write its files into ``ctx.out_dir`` and return a
:class:`~latentlab.report.Section` with the figures embedded.

Options read from ``ctx.options``: ``engine``, ``scheduler``, ``chunk_rows``,
``pairs`` (list of (i, j)), ``cube_b``, ``attribute`` (PC scatter colour).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__: list[str] = []

#: Attributes tried, in order, to colour the PC1–PC2 scatter.
_COLOUR_ATTRIBUTES = ("Smiling", "Male", "Eyeglasses")


def _json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def save_figures(out_dir: Path, figs) -> list[tuple[str, str]]:
    """Save ``(file name, caption, Figure)`` triples as PNGs in ``out_dir``; return ``(file name, caption)``."""
    import matplotlib.pyplot as plt

    saved = []
    for name, caption, fig in figs:
        fig.savefig(out_dir / name, dpi=110, bbox_inches="tight")
        plt.close(fig)
        saved.append((name, caption))
    return saved


def _figures_html(out_dir: Path, figures) -> str:
    from ..report import png_html

    return "".join(png_html(out_dir / name, caption) for name, caption in figures)


def _common(ctx) -> dict:
    o = ctx.options or {}
    return {"engine": o.get("engine", "numpy"), "scheduler": o.get("scheduler"), "chunk_rows": o.get("chunk_rows")}


# -- components --------------------------------------------------------------
def write_components(stats, out_dir) -> list[tuple[str, str]]:
    """``components.json``, ``components.csv`` and two figures."""
    from .. import plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _json(out_dir / "components.json", stats.to_dict())
    stats.to_csv(out_dir / "components.csv")
    figs = [
        ("components_histograms.png",
         f"Histograms of the first {min(16, stats.z_dim)} components with their fitted Gaussians (red).",
         plots.plot_component_histograms(stats)),
        ("components_overview.png",
         "Mean ± standard deviation of every component, with min and max in grey.",
         plots.plot_component_overview(stats)),
    ]
    return save_figures(out_dir, figs)


def components_section(ctx):
    from ..report import Section, paragraph, table_html
    from ._components import component_stats

    stats = component_stats(
        ctx.store_path, ctx.partition, seed=ctx.seed, sample_size=5_000 if ctx.quick else 20_000, **_common(ctx)
    )
    figures = write_components(stats, ctx.out_dir)
    worst = np.argsort(stats.normal_pvalue)[:5]
    body = paragraph(
        f"{stats.n_points} points in {stats.z_dim} dimensions. The data centre lies {stats.offset:.2f} mean "
        f"standard deviations from the origin (‖mean‖ = {stats.mean_norm:.3g}, mean std = {stats.mean_std:.3g}). "
        f"{stats.n_non_normal(0.01)} of {stats.z_dim} components reject normality at 1 % "
        f"(D'Agostino–Pearson on {stats.normal_sample} rows)."
    )
    body += table_html(
        [[f"z{j}", stats.mean[j], stats.std[j], stats.skewness[j], stats.kurtosis[j], stats.normal_pvalue[j]] for j in worst],
        ["least normal component", "mean", "std", "skewness", "excess kurtosis", "normaltest p"],
    )
    body += _figures_html(ctx.out_dir, figures)
    return Section("Components", body, data={"offset": stats.offset})


# -- correlations ------------------------------------------------------------
def write_correlations(result, out_dir) -> list[tuple[str, str]]:
    """``correlations.json`` and the heat map, pair scatter plots and Mahalanobis figure."""
    from .. import plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _json(out_dir / "correlations.json", result.to_dict())
    figs = [("correlation_matrix.png", "Correlation matrix of the latent components (red positive, blue negative).",
             plots.plot_correlation_matrix(result))]
    for i, j in result.pairs:
        figs.append((f"pair_{i}_{j}.png",
                     f"Subsample of the data in the (z{i}, z{j}) plane with the 1-, 2- and 3-σ ellipses of its 2×2 covariance.",
                     plots.plot_pair_scatter(result, i, j, kind="density" if len(result.sample) > 3000 else "scatter")))
    figs.append(("mahalanobis.png",
                 f"Squared Mahalanobis distances of all points against the χ²({result.maha_dof}) density expected for a multivariate normal.",
                 plots.plot_mahalanobis(result)))
    return save_figures(out_dir, figs)


def correlations_section(ctx):
    from ..report import Section, paragraph, table_html
    from ._correlations import correlations

    o = ctx.options or {}
    res = correlations(ctx.store_path, ctx.partition, seed=ctx.seed, pairs=o.get("pairs"),
                       sample_size=2_000 if ctx.quick else 5_000, **_common(ctx))
    figures = write_correlations(res, ctx.out_dir)
    t = res.maha_test
    body = paragraph(
        f"Mean |r| over pairs: {res.to_dict()['mean_abs_corr']:.3f}. Squared Mahalanobis distances: mean "
        f"{res.maha_mean:.3g} (χ²({res.maha_dof}) expects {res.maha_dof}); binned χ² test statistic "
        f"{t['statistic']:.4g}, p = {t['pvalue']:.3g}, largest CDF gap {t['max_cdf_distance']:.3f}: {t['verdict']}."
    )
    body += table_html([[f"z{i}", f"z{j}", r] for i, j, r in res.top_pairs], ["component", "component", "correlation"])
    body += _figures_html(ctx.out_dir, figures)
    return Section("Correlations", body, data={"is_mnd": res.is_mnd})


# -- radii -------------------------------------------------------------------
def write_radii(result, out_dir) -> list[tuple[str, str]]:
    """``radii.json`` and the two radius figures."""
    from .. import plots

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _json(out_dir / "radii.json", result.to_dict())
    figs = [
        ("radii_origin.png", "Distribution of ‖z‖ for the data (bars) and for cube, ball, N(0, I) and N(mean, Σ) generators (lines).",
         plots.plot_radii(result, "r")),
        ("radii_centre.png", "Distribution of the distance from the data centre ‖z − mean‖ against the same generators about their own centres.",
         plots.plot_radii(result, "rc")),
    ]
    return save_figures(out_dir, figs)


def radii_table(result) -> tuple[list, list[str]]:
    rows = [["data", result.data["r"]["mean"], result.data["r"]["std"], result.data["r"]["median"], "", ""]]
    for name, g in result.generators.items():
        rows.append([g["label"], g["r"]["mean"], g["r"]["std"], g["r"]["median"], g["r"]["ks"], g["rc"]["ks"]])
    return rows, ["", "mean ‖z‖", "std", "median", "KS gap ‖z‖", "KS gap ‖z − mean‖"]


def radii_section(ctx):
    from ..report import Section, paragraph, table_html
    from ._radii import radii

    o = ctx.options or {}
    res = radii(ctx.store_path, ctx.partition, seed=ctx.seed, cube_b=o.get("cube_b"),
                n_mc=2_000 if ctx.quick else 5_000, **_common(ctx))
    figures = write_radii(res, ctx.out_dir)
    rows, headers = radii_table(res)
    body = paragraph(
        f"Distance of the data centre from the origin: {res.mean_norm:.3g}. The KS gap is the largest difference "
        "between the data's and a generator's radius distribution (0 = identical, 1 = disjoint)."
    )
    body += table_html(rows, headers)
    body += _figures_html(ctx.out_dir, figures)
    return Section("Radii", body)


# -- PCA ---------------------------------------------------------------------
def _pc_sample(store_path, pca, *, partition, seed, size, attribute=None, chunk_rows=None):
    """Scores of a seeded subsample on the first PCs, and its colouring attribute (or None)."""
    from ..store import open_store
    from ._streaming import RowSample, run_pass, sample_index

    with open_store(store_path) as store:
        idx = sample_index(store, size, partition=partition, seed=seed)
        got, rows = run_pass(store, {"s": RowSample(idx)}, partition=partition, chunk_rows=chunk_rows)["s"].result(store.z_dim)
        attr, name = None, None
        if store.attributes is not None and len(got):
            names = list(store.attribute_names)
            wanted = [attribute] if attribute else [a for a in _COLOUR_ATTRIBUTES if a in names] or names[:1]
            if wanted and wanted[0] in names:
                name = wanted[0]
                attr = np.asarray(store.attributes[got])[:, names.index(name)]
    k = min(6, pca.components_.shape[0])
    return pca.transform(rows, n_components=k), attr, name


def write_pca_data(pca, out_dir, *, store_path=None) -> dict:
    """``pca.json`` (the fitted numbers) and ``pca.npz`` (mean, components, eigenvalues); returns the JSON dict."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = pca.to_dict()
    if store_path is not None:
        info["store"] = str(store_path)
    _json(out_dir / "pca.json", info)
    pca.save(out_dir / "pca.npz")
    return info


def write_pca(pca, out_dir, *, store_path=None, partition=None, seed=0, sample_size=5_000, attribute=None) -> list[tuple[str, str]]:
    """``pca.json``, ``pca.npz`` and the PCA figures (projections need ``store_path``)."""
    from .. import plots

    out_dir = Path(out_dir)
    write_pca_data(pca, out_dir, store_path=store_path)
    figs = [
        ("pca_eigenvalues.png", "Eigenvalues of the covariance (variance along each principal axis), log scale.",
         plots.plot_eigenvalues(pca)),
        ("pca_cumulative.png", "Cumulative fraction of the variance explained by the first k components, with the 50/90/99 % marks.",
         plots.plot_cumulative_variance(pca)),
        ("pca_semi_axes.png", "Semi-axis lengths of the 1-, 2- and 3-σ confidence ellipsoids along the first principal axes.",
         plots.plot_semi_axes(pca)),
    ]
    if store_path is not None:
        scores, attr, name = _pc_sample(store_path, pca, partition=partition, seed=seed, size=sample_size, attribute=attribute)
        figs.append(("pca_pc_histograms.png",
                     "Histograms of a data subsample along the first principal components with N(0, eigenvalue) curves.",
                     plots.plot_pc_histograms(pca, scores)))
        if scores.shape[1] >= 2:
            cap = "A data subsample in the PC1–PC2 plane" + (f", coloured by the attribute {name}." if name else ".")
            figs.append(("pca_pc1_pc2.png", cap, plots.plot_pc_scatter(scores, attr, name)))
    return save_figures(out_dir, figs)


def _pca_body(pca, out_dir: Path, figures) -> str:
    from ..report import paragraph, table_html

    info = pca.to_dict()
    body = paragraph(
        f"{info['n_points']} points, z_dim {info['z_dim']} ({info['method']} PCA). Components needed for 50 / 90 / 99 % "
        f"of the variance: {info['n_components_50']} / {info['n_components_90']} / {info['n_components_99']}. "
        f"Total variance {info['total_variance']:.4g}; distance of the mean from the origin {info['mean_norm']:.4g}."
    )
    k = min(10, len(info["eigenvalues"]))
    body += table_html(
        [[f"PC{i + 1}", info["eigenvalues"][i], info["semi_axes_1sigma"][i], info["semi_axes_2sigma"][i],
          info["semi_axes_3sigma"][i], info["cumulative_explained_variance"][i]] for i in range(k)],
        ["axis", "eigenvalue", "1σ semi-axis", "2σ semi-axis", "3σ semi-axis", "cumulative ratio"],
    )
    return body + _figures_html(out_dir, figures)


def pca_section(ctx, pca=None):
    from ..report import Section
    from ._pca import fit_pca

    c = _common(ctx)
    if pca is None:
        pca = fit_pca(ctx.store_path, partition=ctx.partition, **c)
    figures = write_pca(pca, ctx.out_dir, store_path=ctx.store_path, partition=ctx.partition, seed=ctx.seed,
                        sample_size=2_000 if ctx.quick else 5_000, attribute=(ctx.options or {}).get("attribute"))
    return Section("PCA", _pca_body(pca, Path(ctx.out_dir), figures), data={"n_components_90": pca.n_components_for(0.9)})


def pca_page(store_path: str | os.PathLike, out_dir: str | os.PathLike, *, model=None, partition=None,
             seed: int = 0, options: dict | None = None) -> Path:
    """Write ``out_dir/pca.html``: the PCA section as one self-contained page."""
    from ..report import ReportContext, write_page

    ctx = ReportContext(store_path=Path(store_path), out_dir=Path(out_dir), partition=partition, seed=seed,
                        options=options or {})
    section = pca_section(ctx, pca=model)
    return write_page(Path(out_dir) / "pca.html", f"PCA of {Path(store_path).name}", [section],
                      intro=f"z-store: {Path(store_path).name}. Every figure is embedded; the page reads offline.")
