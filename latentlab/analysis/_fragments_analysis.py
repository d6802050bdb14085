"""The fragments analysis as a registry entry: its options, declared once, around :func:`find_fragments`."""

from __future__ import annotations

from ._contract import Analysis, Option

__all__: list[str] = []


def _run(data, *, seed: int = 0, pca_variance: float | None = 0.99, **options):
    from ._fragments import find_fragments

    # 1 (keep every component) is spelled None in find_fragments' parameters
    keep_all = pca_variance is not None and pca_variance >= 1.0
    return find_fragments(data, pca_variance=None if keep_all else pca_variance, random_state=seed, **options)


FRAGMENTS = Analysis(
    name="fragments",
    title="Fragments and filaments",
    help="Fragments, halo and filaments of the z-cloud → fragments.h5, fragments.json, figures, fragments.html.",
    run=_run,
    options=(
        Option("k", 15, "Neighbours per point in the k-NN graph."),
        Option("min_fragment_size", None, "Smallest fragment (default max(5, min(100, N/200))).", int),
        Option("pca_variance", 0.99, "Keep the PCs holding this share of the variance (1 = all)."),
        Option("metric", "euclidean", "euclidean or cosine."),
        Option("knn", "auto", "auto (exact up to 20,000 points), exact or approximate."),
        Option("halo_ratio", 1.5, "Density contrast that separates fragments and marks halo points."),
        Option("filament_threshold", 0.8, "Filament score (1 - λ2/λ1) for filament candidates."),
        Option("min_filament_size", None, "Smallest filament (default max(5, k)).", int),
        Option("filament_scales", 3, "Score filaments on k, 2k, ... this many times k neighbours and keep each "
               "point's best (1-8; 1 = only k)."),
        Option("hierarchy", True, "Build the density hierarchy (HDBSCAN condensed tree on the k-NN graph).", bool),
        Option("level", None, "Cut the hierarchy where this fraction (0-1] of the points, the densest, is inside "
               "(default: HDBSCAN's own selection).", float),
        Option("min_cluster_size", None, "Smallest component of the hierarchy (default: the minimum fragment size).",
               int),
        Option("label", None, "Attribute to compare the structure with and colour figures by; 'class' = the one "
               "positive attribute per row (one-hot classes, the default for such stores).", str),
        Option("seed", 0, "Random seed (approximate k-NN, subsamples)."),
        Option("recall_queries", 200, "Rows on which an approximate k-NN graph is checked against exact search.",
               quick=50, cli=False),
    ),
    streamed=False,
    page=True,
    out_suffix="_fragments",
    section="latentlab.analysis._fragment_section:fragments_section",
    body="latentlab.analysis._fragment_section:_summary_html",
)
