"""HTML reports assembled from sections.

A section builder is a function ``builder(ctx: ReportContext) -> Section | None``
(``None`` when it does not apply, e.g. it needs a model and none was given).
:data:`SECTION_BUILDERS` lists them in page order as ``"module:function"``
strings, imported only when a report is built; every registered analysis
(:data:`latentlab.analysis._registry.ANALYSES`) is one section, built by
:func:`~latentlab.report._analyses.analysis_section`.
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis._registry import ANALYSES
from ._html import Section, figure_html, paragraph, png_html, render_page, table_html, write_page

__all__ = [
    "SECTION_BUILDERS",
    "ReportContext",
    "Section",
    "build_report",
    "figure_html",
    "paragraph",
    "png_html",
    "render_page",
    "table_html",
    "write_page",
]

#: Marks a section built from the analysis registry.
_ANALYSIS = "analysis"

#: Report sections in page order: (name, "module:function" or "analysis").
SECTION_BUILDERS: list[tuple[str, str]] = [
    ("overview", "latentlab.report._overview:overview_section"),
    ("reconstructions", "latentlab.report._overview:reconstruction_section"),
    *((name, _ANALYSIS) for name in ANALYSES),
    ("samplers", "latentlab.metrics._sections:samplers_section"),
]


@dataclass
class ReportContext:
    """What a section builder may use.

    Attributes
    ----------
    store_path : Path
        The z-store analysed.
    out_dir : Path
        Where the section may write its JSON / figures (the report's folder).
    model_dir : Path or None
        A model directory (or ``None``): sections that decode need it.
    encoder_path, decoder_path : Path or None
        Bring-your-own model files, used when ``model_dir`` is None.
    partition : str or None
    seed : int
    quick : bool
        Smaller sample sizes (demo / CI).
    options : dict
        Free-form per-section options.
    """

    store_path: Path
    out_dir: Path
    model_dir: Path | None = None
    encoder_path: Path | None = None
    decoder_path: Path | None = None
    partition: str | None = None
    seed: int = 0
    quick: bool = False
    options: dict = field(default_factory=dict)

    @property
    def has_model(self) -> bool:
        return self.model_dir is not None or (self.encoder_path is not None and self.decoder_path is not None)


def _load_builder(name: str, spec: str):
    if spec == _ANALYSIS:
        from ._analyses import analysis_section

        return functools.partial(analysis_section, name)
    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)


def build_report(
    store_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    model_dir: str | os.PathLike | None = None,
    encoder_path: str | os.PathLike | None = None,
    decoder_path: str | os.PathLike | None = None,
    sections: list[str] | None = None,
    partition: str | None = None,
    seed: int = 0,
    quick: bool = False,
    title: str = "latentlab report",
    options: dict | None = None,
    progress=None,
) -> Path:
    """Build ``out_dir/report.html`` with every applicable section.

    Parameters
    ----------
    sections : list of str, optional
        Names from :data:`SECTION_BUILDERS` to include (default: all).
    progress : callable, optional
        Called with each section name before it is built.

    Returns
    -------
    Path of the written page.
    """
    from ..store import open_store

    from .._errors import ModelError

    store_path, out_dir = Path(store_path), Path(out_dir)
    with open_store(store_path):  # validate up front: one clear error, nothing written
        pass
    if (encoder_path is None) != (decoder_path is None):
        raise ModelError("a bring-your-own model needs both --encoder and --decoder")
    if model_dir is not None and not Path(model_dir).is_dir():
        raise ModelError(f"{model_dir}: no such model directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = ReportContext(
        store_path=store_path,
        out_dir=out_dir,
        model_dir=Path(model_dir) if model_dir else None,
        encoder_path=Path(encoder_path) if encoder_path else None,
        decoder_path=Path(decoder_path) if decoder_path else None,
        partition=partition,
        seed=seed,
        quick=quick,
        options=options or {},
    )
    known = dict(SECTION_BUILDERS)
    wanted = sections or [name for name, _ in SECTION_BUILDERS]
    unknown = [s for s in wanted if s not in known]
    if unknown:
        from .._errors import LatentlabError

        raise LatentlabError(f"unknown report section(s): {', '.join(unknown)}; known: {', '.join(known)}")
    built = []
    for name in wanted:
        if progress:
            progress(name)
        section = _load_builder(name, known[name])(ctx)
        if section is not None:
            built.append(section)
    return write_page(
        out_dir / "report.html", title, built,
        intro=f"z-store: {store_path.name}. Every figure is embedded; the page reads offline.",
    )
