from __future__ import annotations

import typer

app = typer.Typer(
    name="latentlab",
    help="Analyse the latent space of autoencoders: encode → z-store → analyses → regions → decode → report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Print the traceback of an unexpected error (also LATENTLAB_DEBUG=1)."),
) -> None:
    """Analyse the latent space of autoencoders: encode → z-store → analyses → regions → decode → report."""
