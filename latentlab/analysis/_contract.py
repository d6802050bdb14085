"""The analysis contract: what every analysis declares, what it runs on, what it returns.

An analysis is an :class:`Analysis`: a name, its options (each declared once,
as an :class:`Option`) and a ``run(data, **options)`` function. ``data`` is a
z-store path, an open store or an ``(N, z_dim)`` array (any row source, see
:mod:`latentlab.analysis._streaming`). ``run`` returns a result that follows
:class:`AnalysisResult`:

* ``to_dict()`` – the JSON-ready numbers (``NAME.json``),
* ``save(out_dir)`` – writes the data files, returns their paths,
* ``figures()`` – yields ``(file name, caption, Figure)``,
* ``summary()`` – paragraphs and tables for the report (plain data, no HTML),
* ``lines()`` – the short text the CLI prints.

The registry (:mod:`latentlab.analysis._registry`) lists the analyses; the CLI
builds one command per entry from its options and the report one section per
entry, so adding an analysis is its module plus one registry line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .._errors import LatentlabError

__all__ = ["Analysis", "AnalysisResult", "Option", "Table", "save_figures"]

#: Marks an option without a ``--quick`` value.
NOTSET: Any = object()


@dataclass(frozen=True)
class Option:
    """One option of an analysis: keyword, default, help, and how the CLI and the quick report set it.

    Parameters
    ----------
    name : str
        Keyword argument of the analysis' ``run`` (``--name-with-dashes`` on the CLI).
    default : object
    help : str
        One sentence for ``--help``.
    type : type, optional
        CLI value type (``int``, ``float``, ``str``, ``bool``); from ``default`` when omitted.
    quick : object, optional
        Value used by ``latentlab report --quick`` (smaller samples).
    parse : callable, optional
        For options given as several values on the CLI (``--pairs 0,1 3,7``):
        ``parse(list_of_strings) -> value``.
    cli : bool
        Offer it on the command line (else API and report only).
    metavar : str, optional
        How ``--help`` shows the value.

    Examples
    --------
    >>> Option("n_mc", 5_000, "Monte-Carlo samples per generator.", quick=2_000).flag
    '--n-mc'
    """

    name: str
    default: Any
    help: str
    type: type | None = None
    quick: Any = NOTSET
    parse: Callable | None = None
    cli: bool = True
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def value_type(self) -> type:
        if self.type is not None:
            return self.type
        if self.default is None:
            return str
        return type(self.default)


PARTITION = Option("partition", None, "Rows to analyse: train, val, test or all (default all).", str)
#: Options of every streamed analysis (chunked passes over /z, numpy or dask).
STREAMING = (
    PARTITION,
    Option("chunk_rows", None, "Rows per streamed block.", int),
    Option("engine", "numpy", "numpy (in-process streaming) or dask (dask.array over the HDF5 chunks)."),
    Option("scheduler", None, "Dask scheduler address for --engine dask (default: $DASK_SCHEDULER_ADDRESS or local threads).", str),
)


@dataclass(frozen=True)
class Table:
    """A table of a report section: column headers and rows of plain values."""

    headers: list
    rows: list


@dataclass(frozen=True)
class Analysis:
    """An analysis as the CLI and the report see it.

    Parameters
    ----------
    name : str
        Registry name, CLI command and report section name.
    title : str
        Report section title.
    help : str
        One line for ``latentlab NAME --help``.
    run : callable
        ``run(data, **options) -> AnalysisResult``.
    options : tuple of Option
        Its own options, besides :data:`STREAMING` (when ``streamed``) or the partition.
    streamed : bool
        Runs as passes over ``/z`` (takes ``chunk_rows``, ``engine``, ``scheduler``).
    figures, page : bool
        Whether the CLI writes the PNG figures / a one-page ``NAME.html`` by default.
    out_suffix : str
        Default output folder: ``<store dir>/<store stem><out_suffix>``.
    section : str, optional
        ``"module:function"`` of a report section builder ``f(ctx) -> Section``
        replacing the generic one (e.g. one that reuses cached results).
    body : str, optional
        ``"module:function"`` rendering a result as section HTML, replacing the
        generic rendering of ``result.summary()``.
    """

    name: str
    title: str
    help: str
    run: Callable
    options: tuple = ()
    streamed: bool = True
    figures: bool = True
    page: bool = False
    out_suffix: str = "_analysis"
    section: str | None = None
    body: str | None = None
    # Options every analysis takes, in CLI order.
    common: tuple = field(default=(), init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "common", STREAMING if self.streamed else (PARTITION,))
        names = [o.name for o in self.all_options]
        if len(set(names)) != len(names):
            raise ValueError(f"analysis {self.name!r}: an option is declared twice ({names})")

    @property
    def all_options(self) -> tuple:
        return (*self.common, *self.options)

    def defaults(self, *, quick: bool = False) -> dict:
        """Option values: the defaults, or the ``quick`` values where declared and asked for."""
        return {o.name: (o.quick if quick and o.quick is not NOTSET else o.default) for o in self.all_options}

    def __call__(self, data, **options):
        """Run on ``data`` with the given options (the rest at their defaults)."""
        unknown = sorted(set(options) - {o.name for o in self.all_options})
        if unknown:
            known = ", ".join(o.name for o in self.all_options)
            raise LatentlabError(f"{self.name}: unknown option(s) {', '.join(unknown)}; known: {known}")
        return self.run(data, **{**self.defaults(), **options})


class AnalysisResult:
    """Shared verbs of analysis results; a result fills ``name``, ``to_dict`` and the hooks it needs.

    ``save`` writes ``NAME.json`` (strict JSON through :func:`latentlab._io.write_json`)
    and whatever :meth:`_save_files` adds.
    """

    #: Stem of the JSON file (``NAME.json``).
    name: ClassVar[str] = "analysis"

    def to_dict(self) -> dict:  # pragma: no cover - every result defines it
        raise NotImplementedError

    def save(self, out_dir) -> list[Path]:
        """Write ``out_dir/NAME.json`` and the result's other data files; return their paths."""
        from .._io import write_json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        return [write_json(out / f"{self.name}.json", self.to_dict()), *self._save_files(out)]

    def _save_files(self, out: Path) -> list[Path]:
        return []

    def figures(self) -> Iterator[tuple[str, str, Any]]:
        """Yield ``(file name, caption, Figure)`` for every figure of the result."""
        return iter(())

    def summary(self) -> list:
        """Report blocks: strings (paragraphs) and :class:`Table` objects."""
        return []

    def lines(self) -> list[str]:
        """What the CLI prints about the result."""
        return []


def save_figures(result, out_dir, *, dpi: int = 110) -> list[tuple[Path, str]]:
    """Save every figure of ``result`` as PNG in ``out_dir``; returns ``(path, caption)`` pairs."""
    import matplotlib.pyplot as plt

    from .._io import save_figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    for name, caption, fig in result.figures():
        try:
            saved.append((save_figure(fig, out / name, dpi=dpi), caption))
        finally:
            plt.close(fig)
    return saved
