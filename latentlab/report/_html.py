"""Self-contained HTML pages: figures embedded as base64 PNG, no external assets."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #aaa}
figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.92em;color:#444;margin-top:.3em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
nav a{margin-right:1em}.note{color:#555;font-size:.92em}
"""


@dataclass
class Section:
    """One section of a report page."""

    title: str
    body: str
    anchor: str = ""
    data: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.anchor:
            self.anchor = "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


def figure_html(fig, caption: str, *, dpi: int = 110, close: bool = True) -> str:
    """Embed a matplotlib Figure as a PNG ``<figure>`` with a one-sentence caption."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def png_html(path: str | Path, caption: str) -> str:
    """Embed an existing PNG file."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def table_html(rows: Iterable[Sequence], headers: Sequence[str], *, floatfmt: str = ".4g") -> str:
    """A plain HTML table; floats formatted with ``floatfmt``."""

    def cell(v):
        if isinstance(v, float):
            return format(v, floatfmt)
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def render_page(title: str, sections: Sequence[Section], *, intro: str = "") -> str:
    """Render sections into one self-contained HTML page."""
    nav = "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='note'>{html.escape(intro)}</p>" if intro else "",
        f"<nav>{nav}</nav>" if len(sections) > 1 else "",
    ]
    for s in sections:
        parts.append(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>{s.body}</section>')
    parts.append("</body></html>")
    return "".join(parts)


def write_page(path: str | Path, title: str, sections: Sequence[Section], *, intro: str = "") -> Path:
    """Write the page atomically (a failure leaves the previous page, or none)."""
    from .._io import write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, render_page(title, sections, intro=intro))
