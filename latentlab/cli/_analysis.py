"""CLI: one command per registered analysis (components, correlations, radii, pca, fragments) and ``report``.

Each analysis command is built from its registry entry
(:data:`latentlab.analysis._registry.ANALYSES`): the options it declares,
plus ``--out``, ``--figures/--no-figures`` and ``--report/--no-report``. It
runs the analysis (no TensorFlow), then writes the result's files, its
figures and, with ``--report``, ``NAME.html``, and prints the result's summary.
Nothing is written before the analysis has run, so bad options leave no output.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..analysis._contract import PARTITION, STREAMING
from ..analysis._registry import analyses
from ._app import app
from ._common import DecoderFile, EncoderFile, reads_store

_ENGINE, _SCHEDULER = STREAMING[2], STREAMING[3]


def _option_parameter(option) -> inspect.Parameter:
    if option.parse is not None:  # several values: --pairs 0,1 3,7
        hint = Optional[list[str]]
        default = None
    else:
        hint = Optional[option.value_type] if option.default is None else option.value_type
        default = option.default
    # a switch that defaults to on needs its "off" spelling (--hierarchy/--no-hierarchy)
    flag = f"{option.flag}/--no-{option.flag[2:]}" if option.value_type is bool else option.flag
    info = typer.Option(flag, help=option.help, metavar=option.metavar)
    return inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[hint, info])


def _parameters(analysis) -> list[inspect.Parameter]:
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("store", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=Annotated[Path, typer.Argument(help="z-store HDF5 file")])]
    tails = [o for o in analysis.all_options if o.cli and o.parse is not None][:1]
    for o in tails:  # values after the first one: --pairs 0,1 3,7
        params.append(inspect.Parameter(
            f"more_{o.name}", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
            annotation=Annotated[Optional[list[str]], typer.Argument(
                help=f"More values after {o.flag} (e.g. {o.flag} 0,1 3,7).", show_default=False, metavar=o.metavar)]))
    out_help = f"Output folder (default: <store>{analysis.out_suffix} next to the store)."
    params += [
        inspect.Parameter("out", keyword, default=None, annotation=Annotated[Optional[Path], typer.Option("--out", help=out_help)]),
        inspect.Parameter("figures", keyword, default=None, annotation=Annotated[Optional[bool], typer.Option(
            "--figures/--no-figures", help=f"Write the PNG figures (default: {'yes' if analysis.figures else 'no'}).")]),
        inspect.Parameter("report", keyword, default=None, annotation=Annotated[Optional[bool], typer.Option(
            "--report/--no-report",
            help=f"Also write DIR/{analysis.name}.html: one self-contained page with the figures "
                 f"(default: {'yes' if analysis.page else 'no'}).")]),
    ]
    return params + [_option_parameter(o) for o in analysis.all_options if o.cli]


def run_analysis_command(analysis, store: Path, *, out=None, figures=None, report=None, tail=None, **values) -> int:
    """Run ``analysis`` on ``store`` with CLI values; write its outputs into ``out`` and print its summary."""
    from ..analysis._contract import save_figures
    from ..report._analyses import analysis_page

    options = {}
    for o in analysis.all_options:
        if o.name in values:
            value = values[o.name]
            if o.parse is not None:
                given = list(value or []) + (list(tail or []) if f"more_{o.name}" == _tail_name(analysis) else [])
                value = o.parse(given)
            options[o.name] = value
    from .._checks import check_output_dir

    # --out is checked before the (possibly long) analysis runs: a file in its place is one line, at once
    out_dir = check_output_dir(out if out is not None else store.with_name(f"{store.stem}{analysis.out_suffix}"))
    result = analysis(store, **options)
    written = result.save(out_dir)
    page = report if report is not None else (analysis.page and figures is not False)
    pngs = save_figures(result, out_dir) if page or (figures if figures is not None else analysis.figures) else []
    for line in result.lines():
        typer.echo(line)
    typer.echo(f"wrote {', '.join(str(p) for p in written)}" + (f" and {len(pngs)} figures" if pngs else ""))
    if page:
        typer.echo(f"wrote {analysis_page(analysis, result, out_dir, pngs, store_name=store.name)}")
    return 0


def _tail_name(analysis) -> str | None:
    tails = [o for o in analysis.all_options if o.cli and o.parse is not None]
    return f"more_{tails[0].name}" if tails else None


def _register(analysis) -> None:
    tail = _tail_name(analysis)

    def command(store: Path, **values) -> int:
        return run_analysis_command(analysis, store, tail=values.pop(tail, None) if tail else None, **values)

    params = _parameters(analysis)
    command.__name__ = analysis.name
    command.__doc__ = analysis.help
    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    app.command(analysis.name)(reads_store("store")(command))


for _analysis in analyses():
    _register(_analysis)


@app.command("report")
@reads_store("store")
def report_cmd(
    store: Annotated[Path, typer.Argument(help="z-store HDF5 file")],
    out: Annotated[Path, typer.Option("--out", help="Output folder for report.html and its files.")],
    model: Annotated[Optional[Path], typer.Option("--model", help="Model directory (enables sections that decode).")] = None,
    encoder: EncoderFile = None,
    decoder: DecoderFile = None,
    sections: Annotated[Optional[str], typer.Option("--sections", help="Comma-separated sections (default all), e.g. components,pca.")] = None,
    partition: Annotated[Optional[str], typer.Option(help=PARTITION.help)] = None,
    seed: Annotated[int, typer.Option(help="Seed for subsamples.")] = 0,
    quick: Annotated[bool, typer.Option("--quick", help="Smaller samples (faster).")] = False,
    engine: Annotated[str, typer.Option(help=_ENGINE.help)] = "numpy",
    scheduler: Annotated[Optional[str], typer.Option(help=_SCHEDULER.help)] = None,
    region_file: Annotated[Optional[list[Path]], typer.Option("--region-file", help="Fitted region files (latentlab fit-region) for the samplers section, compared without refitting.")] = None,
) -> int:
    """One self-contained HTML page with every analysis section → DIR/report.html."""
    from .._checks import check_output_dir
    from ..report import build_report

    from .._stages import stage
    from ._common import announce_stages

    check_output_dir(out)
    wanted = [s.strip() for s in sections.split(",") if s.strip()] if sections else None
    with announce_stages():  # a line per section and per stage inside one (fragments, samplers)
        page = build_report(
            store, out, model_dir=model, encoder_path=encoder, decoder_path=decoder, sections=wanted, partition=partition, seed=seed, quick=quick,
            options={"engine": engine, "scheduler": scheduler, **({"region_files": region_file} if region_file else {})},
            progress=stage,
        )
    typer.echo(str(page))
    return 0
