"""Report section and standalone figures for the fragment / filament analysis."""

from __future__ import annotations

from pathlib import Path

__all__ = ["fragments_section", "fragment_figures", "write_fragment_figures"]


def fragment_figures(result):
    """Yield ``(file name, caption, Figure)`` for every fragment figure (``result.figures()``)."""
    return result.figures()


def write_fragment_figures(result, out_dir) -> list[tuple[Path, str]]:
    """Save every fragment figure as PNG into ``out_dir``; returns ``(path, caption)`` pairs."""
    from ._contract import save_figures

    return save_figures(result, out_dir)


def _summary_html(result) -> str:
    from ..report import paragraph, table_html

    p, s = result.parameters, result.stats
    recall = s.get("knn_recall")
    parts = [
        paragraph(
            f"{result.n} points, k = {p['k']} ({p['knn_method']} k-NN, {p['metric']} metric"
            + (f", recall {recall:.3f} against exact search on {s['knn_recall_queries']} points" if recall is not None else "")
            + f"), PCA to {p['n_components']} components ({p['explained_variance']:.1%} of the variance). "
            f"{result.n_fragments} fragment(s) of at least {p['min_fragment_size']} points, "
            f"{s['n_halo']} halo points ({s['halo_fraction']:.1%}), {result.n_filaments} filament(s) "
            f"with {s['n_filament_points']} points. Global TwoNN dimension {s['twonn_dimension']:.1f}."
        )
    ]
    rows = [
        ["main" if f["id"] == 0 else f["id"], f["size"], f["fraction"], f["rms_radius"],
         f["effective_dimension"], f["median_knn_distance"], f["centre_distance_to_main"], f["gap_to_main"]]
        for f in result.fragments[:20]
    ]
    if rows:
        parts.append(table_html(rows, ["fragment", "size", "fraction", "RMS radius", "eff. dim",
                                       "median k-NN dist.", "centre dist. to main", "gap to main"]))
    rows = [[f["id"], f["size"], f["length"], f["path_length"], f.get("tube_radius"), f.get("scale_k"),
             f["linearity"], f["fragment"]] for f in result.filaments[:20]]
    if rows:
        parts.append(table_html(rows, ["filament", "points", "length (principal axis)", "path length (MST)",
                                       "tube radius", "best k", "linearity", "in fragment"]))
    tree = result.hierarchy
    if tree:
        cut = tree["cut"]
        parts.append(paragraph(
            f"Density hierarchy: {tree['n_nodes']} components of at least {tree['min_cluster_size']} points; "
            + (f"cut at level {cut['level']} (the densest {cut['level']:.0%} of the points): "
               if cut["level"] is not None else "HDBSCAN's selection: ")
            + f"{len(tree['label_sizes'])} cluster(s) of sizes {tree['label_sizes'][:10]}, "
            f"{result.n - tree['n_labelled']} noise points."))
    if result.labels:
        lab = result.labels
        rows = [[part, lab[part]["purity"], lab[part]["adjusted_rand_index"], lab[part]["coverage"]]
                for part in ("fragments", "filaments", "hierarchy") if part in lab]
        parts.append(paragraph(f"Agreement with the label {lab['name']!r} (purity over the points in a part; "
                               "adjusted Rand index with halo / noise as one part):"))
        parts.append(table_html(rows, ["partition", "purity", "adjusted Rand index", "points in a part"]))
    if result.enrichment:
        rows = []
        for g in result.enrichment["groups"]:
            for r in g["rows"]:
                if r["significant"]:
                    rows.append([g["group"], g["size"], r["attribute"], r["fraction"], r["fraction_all"],
                                 r["log2_fold"], r["q_value"]])
        rows.sort(key=lambda r: r[-1])
        if rows:
            parts.append(paragraph("Attributes significantly over- or under-represented (two-sided hypergeometric test, "
                                   f"Benjamini–Hochberg q < {result.enrichment['alpha']}); first 30 rows:"))
            parts.append(table_html(rows[:30], ["group", "size", "attribute", "fraction in group",
                                                 "fraction overall", "log2 fold", "q-value"]))
        else:
            parts.append(paragraph("No attribute is significantly enriched in any fragment or filament."))
    return "".join(parts)


def fragments_section(ctx):
    """Report section: fragments, halo and filaments.

    Reuses ``ctx.out_dir/fragments.h5`` only when it was computed from this
    store's rows, partition and options (:func:`fragments_match`); otherwise
    it is computed again and replaced.
    """
    from ..report import Section, figure_html
    from ._fragments import FRAGMENTS_H5, find_fragments, fragments_match, load_fragments

    h5 = Path(ctx.out_dir) / FRAGMENTS_H5
    opts = dict(ctx.options.get("fragments", {}))
    if ctx.quick:
        opts.setdefault("recall_queries", 50)
    if h5.exists() and fragments_match(h5, ctx.store_path, partition=ctx.partition,
                                       options={**opts, "random_state": ctx.seed}):
        result = load_fragments(h5)
    else:
        result = find_fragments(ctx.store_path, partition=ctx.partition, random_state=ctx.seed, **opts)
        result.save(ctx.out_dir)
    from .._stages import stage

    body = [_summary_html(result)]
    stage("fragments: figures")
    for _, caption, fig in fragment_figures(result):
        body.append(figure_html(fig, caption))
    return Section("Fragments and filaments", "".join(body), data=result.to_dict())
