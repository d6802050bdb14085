"""Report sections owned by the foundation: the store overview and reconstructions."""

from __future__ import annotations

import numpy as np

from ._html import Section, figure_html, paragraph, png_html, table_html


def overview_section(ctx) -> Section:
    """Provenance and a first summary of the z-points (streamed)."""
    from ..store import open_store

    with open_store(ctx.store_path) as s:
        n, d = s.n, s.z_dim
        total = np.zeros(d)
        total_sq = np.zeros(d)
        norms = []
        for block in s.iter_chunks():
            total += block.sum(axis=0)
            total_sq += (block**2).sum(axis=0)
            norms.append(np.linalg.norm(block, axis=1))
        mean = total / max(n, 1)
        std = np.sqrt(np.maximum(total_sq / max(n, 1) - mean**2, 0))
        norms = np.concatenate(norms) if norms else np.empty(0)
        prov = [(k, s.attrs[k]) for k in ("dataset", "source", "image_size", "channels", "model_sha256", "created") if k in s.attrs]
        skipped = len(s.skipped())
        has_part = s.partition is not None
    rows = [
        ("points N", n), ("z_dim", d), ("partitions", "yes" if has_part else "no"), ("skipped images", skipped),
        ("mean ‖z‖", float(norms.mean()) if n else float("nan")),
        ("‖mean‖ (centre offset)", float(np.linalg.norm(mean))),
        ("mean component std", float(std.mean())),
        ("centre offset / mean std", float(np.linalg.norm(mean) / std.mean()) if std.mean() > 0 else float("nan")),
    ]
    body = table_html(rows, ["quantity", "value"]) + table_html([(k, str(v)) for k, v in prov], ["provenance", ""])
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    order = np.arange(d)
    axes[0].errorbar(order, mean, yerr=std, fmt="o", ms=3, capsize=2)
    axes[0].axhline(0, color="k", lw=0.6)
    axes[0].set(xlabel="component", ylabel="mean ± std", title="components")
    axes[1].hist(norms, bins=min(50, max(10, n // 5)), color="tab:blue", alpha=0.8)
    axes[1].set(xlabel="‖z‖", ylabel="points", title="radii")
    fig.tight_layout()
    body += figure_html(fig, "Left: mean ± std of every latent component; right: histogram of the radii ‖z‖ of all points.")
    return Section("Overview", body, data={"n": n, "z_dim": d})


def reconstruction_section(ctx) -> Section | None:
    """Training curve, last training preview, and originals vs reconstructions of stored images."""
    if not ctx.has_model:
        return None
    from ..model import load_autoencoder
    from ..plots import reconstruction_grid, training_history
    from ..sources import Preprocessing, open_source
    from ..store import open_store

    body = ""
    if ctx.model_dir is not None:
        hist = ctx.model_dir / "history.csv"
        if hist.is_file() and hist.stat().st_size > 0:
            body += figure_html(training_history(hist), "Training loss per epoch (history.csv of the model directory).")
        previews = sorted((ctx.model_dir / "previews").glob("epoch_*.png"))
        if previews:
            body += png_html(previews[-1], f"Training preview after the last epoch ({previews[-1].name}): originals above, reconstructions below.")
    ae = load_autoencoder(ctx.model_dir, encoder=ctx.encoder_path, decoder=ctx.decoder_path)
    with open_store(ctx.store_path) as s:
        ids = list(s.read_ids()[: min(10, s.n)])
        dataset, location = s.attrs.get("dataset"), s.attrs.get("source")
        crop = s.attrs.get("crop")
    try:
        src = open_source(dataset, None if dataset == "lfw" else location)
    except Exception as exc:  # the images may not be on this machine any more
        return Section("Reconstructions", body + paragraph(f"Images of the store are not available here ({exc}); no reconstructions shown."))
    lookup = {name: i for i, name in enumerate(src.ids)}
    prep = Preprocessing(ae.image_size, ae.channels, tuple(crop) if isinstance(crop, list) else None)
    rows = [lookup[i] for i in ids if i in lookup]
    originals = np.stack([src.load(r, prep) for r in rows])
    recon = ae.decode(ae.encode(originals))
    mse = float(np.mean((originals / 255.0 - recon) ** 2))
    body += figure_html(reconstruction_grid(originals, recon, ids=[src.ids[r] for r in rows]),
                        f"The first {len(rows)} stored images (top) and the decoder's reconstruction of their z-points (bottom).")
    body += paragraph(f"Mean squared pixel error of these reconstructions: {mse:.4f} (pixels in [0, 1]).")
    return Section("Reconstructions", body, data={"mse": mse})
