"""Report section: which regions of latent space make good samples.

Options read from ``ctx.options``: ``samplers_n`` (samples per sampler),
``samplers`` (list of region names), ``fragments`` (path to fragments.h5),
``region_files`` (fitted ``.region`` files, compared without refitting).
"""

from __future__ import annotations

__all__: list[str] = []

_TABLE = [
    ("sampler", "sampler"),
    ("heldout_loglik", "held-out log-lik"),
    ("heldout_inside", "held-out inside"),
    ("on_data_fraction", "on-data"),
    ("too_close_fraction", "too close"),
    ("knn_distance_ratio", "k-NN dist. ratio"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("density", "density"),
    ("coverage", "coverage"),
    ("label_tv", "label TV"),
    ("novelty_ratio", "novelty"),
    ("near_copies", "near copies"),
    ("pixel_precision", "pixel precision"),
    ("pixel_recall", "pixel recall"),
    ("reencoding_error", "re-encoding error"),
    ("fid", "FID"),
]


def samplers_section(ctx):
    """Run :func:`~latentlab.metrics.compare_samplers` into ``ctx.out_dir/samplers`` and summarise it.

    With a model: decoded sample grids per sampler and all metrics; without
    one: the latent-space metrics only.
    """
    from .._stages import stage
    from ..report import Section, figure_html, paragraph, png_html, table_html
    from ._compare import compare_samplers

    opts = ctx.options or {}
    n = int(opts.get("samplers_n", 300 if ctx.quick else 1000))
    out = ctx.out_dir / "samplers"
    model = dict(model_dir=ctx.model_dir, encoder=ctx.encoder_path, decoder=ctx.decoder_path) if ctx.has_model else {}
    result = compare_samplers(
        ctx.store_path, out, regions=opts.get("samplers"), n=n, seed=ctx.seed,
        partition=ctx.partition if ctx.partition not in (None, "all") else "train",
        fragments=opts.get("fragments"), region_files=opts.get("region_files"), use_model=ctx.has_model, **model,
        progress=lambda name: stage(f"samplers: {name}"),
    )
    if not result.rows:
        return None
    cols = [c for c, _ in _TABLE if any(r.get(c) is not None for r in result.rows) or c == "sampler"]
    heads = [h for c, h in _TABLE if c in cols]
    rows = [[("-" if r.get(c) is None else r[c]) for c in cols] for r in result.rows]
    st = result.settings
    body = paragraph(
        f"Each sampler (a region of latent space) is fitted on {st['n_fit']} points ({st['split']}) and draws "
        f"{st['n']} z-points (seed {st['seed']}); all are compared with the same {st['n_reference']} real points "
        f"({st['reference']}). On-data: share of samples whose {st['k']}-NN distance to the real points lies within "
        f"the central {st['quantile']:.0%} of the real points' own (too close: below it, the empty interior of a "
        f"high-dimensional cloud); precision/recall/density/coverage after "
        f"Naeem et al. (2020), k={st['k']}. Novelty: each sample's distance to its nearest training point over the "
        f"held-out real points' median (1 = as new as unseen real data); near copies: share closer than their 5th "
        f"percentile. The row \u201cheld-out real\u201d (when present) is real unseen data measured like a sampler: the ceiling."
    )
    body += table_html(rows, heads, floatfmt=".3g")
    body += _fidelity_novelty_likelihood(result)
    if result.labels is not None:
        body += _labels_html(result.labels, paragraph, table_html)
    if "samplers_png" in result.files:
        body += png_html(result.files["samplers_png"], "Decoded samples from each region of latent space, one grid per sampler.")
    if "metrics_png" in result.files:
        body += png_html(result.files["metrics_png"], "Sample-quality metrics per sampler (higher is better except the re-encoding error).")
    elif result.rows:
        from ..plots import metric_bars

        body += figure_html(metric_bars(result.rows), "Sample-quality metrics per sampler.")
    if not ctx.has_model:
        body += paragraph("No model was given: only latent-space metrics are shown (no decoded faces).")
    for name, why in result.skipped.items():
        body += paragraph(f"Sampler {name} was skipped: {why}")
    body += paragraph(f"Files: {out / 'compare.json'}, {out / 'compare.csv'}.")
    return Section("Sampling regions", body, data=result.to_dict())


#: (group, key, heading) of the per-region summary: fidelity, novelty (memorisation), likelihood
_GROUPS = [
    ("fidelity", "precision", "precision"),
    ("fidelity", "density", "density"),
    ("fidelity", "coverage", "coverage"),
    ("novelty", "ct", "C_T"),
    ("novelty", "ct_pvalue", "C_T p (copying)"),
    ("novelty", "authpct", "AuthPct %"),
    ("novelty", "near_copies", "near copies"),
    ("novelty", "pixel_ct", "pixel C_T"),
    ("novelty", "pixel_authpct", "pixel AuthPct %"),
    ("likelihood", "heldout_loglik", "held-out log-lik"),
    ("likelihood", "loglik_gap", "gap (train − held-out)"),
]


def _fidelity_novelty_likelihood(result) -> str:
    """One table per region: fidelity (PRDC), novelty (C_T, AuthPct, near copies), likelihood (held-out, gap)."""
    from ..report import paragraph, table_html

    cols = [(g, c, h) for g, c, h in _GROUPS if any(r.get(c) is not None for r in result.rows)]
    if not any(c in ("ct", "authpct") for _, c, _ in cols):
        return ""
    heads = ["sampler"] + [f"{g}: {h}" for g, _, h in cols]
    rows = [[r["sampler"]] + [("-" if r.get(c) is None else r[c]) for _, c, _ in cols] for r in result.rows]
    text = paragraph(
        "Fidelity, novelty and likelihood side by side, with the held-out real row as the reference. "
        "C_T (Meehan et al. 2020, as dgm-eval): per k-means cell of the training points (after PCA), a Mann-Whitney "
        "test of the samples' against held-out real points' distances to their nearest training point, combined by "
        "cell mass: negative = closer to training than unseen data (copying), about 0 for real data; the p-value is "
        "one-sided toward copying. AuthPct (Alaa et al. 2022): share of samples farther from their nearest training "
        "point than that point's own nearest training neighbour. Gap: mean log-likelihood of training rows minus "
        "held-out rows (large = the density memorises)."
    )
    return text + table_html(rows, heads, floatfmt=".3g")


def _labels_html(labels: dict, paragraph, table_html) -> str:
    """Label coverage beside PRDC: what each sampler's samples are, by the k-NN vote of the fit rows."""
    what = ("the class most of its" if labels["kind"] == "one-hot" else "for each attribute, the vote of its")
    text = paragraph(
        f"Label coverage: each sample gets {what} {labels['k']} nearest fit points; “label TV” is the total-"
        "variation distance between the samples' labels and the fit rows' ("
        + ("½ Σ |share difference| over classes" if labels["kind"] == "one-hot"
           else "the mean over attributes of |rate difference|")
        + "). 0 = the data's mix; a sampler that draws one class only scores 1 − that class's share. The held-out "
        "real row is the floor at this sample size. Share of samples per label (one row per class or attribute):")
    samplers = list(labels["samplers"])
    rows = [[name, labels["fit_shares"][i], *(labels["samplers"][s]["shares"][i] for s in samplers)]
            for i, name in enumerate(labels["names"])]
    return text + table_html(rows, ["label", "fit rows", *samplers], floatfmt=".3f")
