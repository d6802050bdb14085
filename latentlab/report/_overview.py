"""Report sections owned by the foundation: what the store is, and how well the model reconstructs."""

from __future__ import annotations

import numpy as np

from ._html import Section, figure_html, paragraph, png_html, table_html

_PROVENANCE = ("dataset", "source", "image_size", "channels", "crop", "model", "model_sha256", "latentlab_version", "created")


def overview_section(ctx) -> Section:
    """Size, partitions and provenance of the store (the distributions follow in their own sections)."""
    from ..store import PARTITIONS, open_store

    with open_store(ctx.store_path) as s:
        rows = [("points N", s.n), ("z_dim", s.z_dim), ("skipped images", len(s.skipped()))]
        if s.partition is not None:
            counts = np.bincount(s.partition[:].astype(np.int64) + 1, minlength=4)  # -1 (unlisted) → bin 0
            rows += [(f"partition {name}", int(counts[code + 1])) for name, code in PARTITIONS.items()]
        rows.append(("attributes", len(s.attribute_names) if s.attributes is not None else "none"))
        prov = [(k, str(s.attrs[k])) for k in _PROVENANCE if k in s.attrs]
        n, d = s.n, s.z_dim
    body = table_html(rows, ["quantity", "value"]) + table_html(prov, ["provenance", ""])
    return Section("Overview", body, data={"n": n, "z_dim": d})


def reconstruction_section(ctx) -> Section | None:
    """Training curve, last training preview, and stored images against the decoding of their z-points."""
    if not ctx.has_model:
        return None
    from ..generate import reconstruct
    from ..plots import image_grid, reconstruction_grid, training_history

    body = ""
    if ctx.model_dir is not None:
        hist = ctx.model_dir / "history.csv"
        if hist.is_file() and hist.stat().st_size > 0:
            body += figure_html(training_history(hist), "Training loss per epoch (history.csv of the model directory).")
        previews = sorted((ctx.model_dir / "previews").glob("epoch_*.png"))
        if previews:
            body += png_html(previews[-1], f"Training preview after the last epoch ({previews[-1].name}): originals above, reconstructions below.")
    originals, decoded = reconstruct(ctx.store_path, n=10, model_dir=ctx.model_dir, encoder=ctx.encoder_path, decoder=ctx.decoder_path)
    if originals is None:
        body += figure_html(image_grid(decoded.images, ncols=10, titles=decoded.labels),
                            "The decoder's images of the first stored z-points (the original images are not on this machine).")
        return Section("Reconstructions", body + paragraph(decoded.info.get("originals_note", "")))
    mse = float(np.mean((originals / 255.0 - decoded.images) ** 2))
    body += figure_html(reconstruction_grid(originals, decoded.images, ids=decoded.labels),
                        f"The first {len(originals)} stored images (top) and the decoder's images of their stored z-points (bottom).")
    body += paragraph(f"Mean squared pixel error of these reconstructions: {mse:.4f} (pixels in [0, 1]).")
    return Section("Reconstructions", body, data={"mse": mse})
