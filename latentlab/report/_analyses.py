"""Report sections and one-page reports of the registered analyses.

One generic section builder serves every entry of
:data:`latentlab.analysis._registry.ANALYSES`: it runs the analysis on
``ctx.store_path`` with its declared options (``--quick`` values when
``ctx.quick``; overridden by ``ctx.options[name]`` or by top-level
``ctx.options`` keys the analysis declares, such as ``engine``, ``pairs``,
``cube_b``), saves its files and figures into ``ctx.out_dir`` and renders
``result.summary()``. An analysis may name its own builder (``section``) or
its own HTML body (``body``) in its registry entry.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ._html import Section, paragraph, png_html, table_html, write_page

__all__ = ["analysis_page", "analysis_section", "render_summary", "section_options"]


def _load(spec: str):
    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)


def section_options(analysis, ctx) -> dict:
    """The options a report section runs ``analysis`` with."""
    names = {o.name for o in analysis.all_options}
    options = analysis.defaults(quick=ctx.quick)
    given = ctx.options or {}
    options.update({k: v for k, v in given.items() if k in names})
    options.update(given.get(analysis.name) or {})
    options["partition"] = ctx.partition
    if "seed" in names:
        options["seed"] = ctx.seed
    return options


def render_summary(blocks) -> str:
    """HTML of ``result.summary()`` blocks: strings become paragraphs, tables become tables."""
    return "".join(paragraph(b) if isinstance(b, str) else table_html(b.rows, b.headers) for b in blocks)


def _body(analysis, result, figures) -> str:
    text = _load(analysis.body)(result) if analysis.body else render_summary(result.summary())
    return text + "".join(png_html(path, caption) for path, caption in figures)


def analysis_section(name: str, ctx) -> Section:
    """Run the registered analysis ``name`` for a report and return its section."""
    from ..analysis._contract import save_figures
    from ..analysis._registry import get_analysis

    analysis = get_analysis(name)
    if analysis.section:
        return _load(analysis.section)(ctx)
    from .._stages import stage

    result = analysis(ctx.store_path, **section_options(analysis, ctx))
    result.save(ctx.out_dir)
    stage(f"{name}: figures")
    figures = save_figures(result, ctx.out_dir)
    return Section(analysis.title, _body(analysis, result, figures), data=result.to_dict())


def analysis_page(analysis, result, out_dir, figures, *, store_name: str) -> Path:
    """Write ``out_dir/NAME.html``: one self-contained page with the result and its saved figures."""
    section = Section(analysis.title, _body(analysis, result, figures))
    return write_page(Path(out_dir) / f"{analysis.name}.html", f"{analysis.title} of {store_name}", [section],
                      intro=f"z-store: {store_name}. Every figure is embedded; the page reads offline.")
