"""CLI: explore (interactive map in the browser) and export (projector files, Parquet).

Neither imports TensorFlow unless a model is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import app
from ._common import DecoderFile, EncoderFile, ModelDir, reads_store

StoreArg = Annotated[Path, typer.Argument(help="z-store HDF5 file (opened read-only).")]
FragmentsOpt = Annotated[Optional[Path], typer.Option("--fragments", help="fragments.h5 of `latentlab fragments`: fragment colouring and region.")]


def _optional_model(model, encoder, decoder) -> dict:
    from .._errors import ModelError

    if model is not None and (encoder is not None or decoder is not None):
        raise ModelError("give either --model or --encoder/--decoder, not both")
    if model is None and encoder is not None and decoder is None:
        raise ModelError("bring your own model: give both --encoder and --decoder (or --decoder alone to decode)")
    return {"model": model, "encoder": encoder, "decoder": decoder}


def _check_before_loading(store: Path, kw: dict, fragments) -> None:
    """The fragments file and the model's z_dim, checked before the first stage line (and before TensorFlow)."""
    from ..model._peek import check_model_z_dim
    from ..regions._fragment import read_fragment_labels
    from ..store import open_store

    with open_store(store) as s:
        n_rows, z_dim = s.n, s.z_dim
    if fragments is not None:
        read_fragment_labels(fragments, n_rows=n_rows)
    if any(kw.values()):
        check_model_z_dim(z_dim, store, model_dir=kw["model"], encoder=kw["encoder"], decoder=kw["decoder"])


@app.command()
@reads_store("store")
def explore(
    store: StoreArg,
    model: ModelDir = None,
    encoder: EncoderFile = None,
    decoder: DecoderFile = None,
    fragments: FragmentsOpt = None,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 5006,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (default: this machine only; another needs --allow-remote).")] = "127.0.0.1",
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="Allow a --host other machines can reach; the printed URL then carries a secret token, without which nothing is served.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for saved selections (default: ./explore-<store name>).")] = None,
    max_glyphs: Annotated[int, typer.Option("--max-glyphs", help="A view holding more points is shown as one image "
                                            "rendered on the server; fewer are drawn as points.")] = 10_000,
) -> int:
    """Interactive map of the z-cloud in the browser: hover a point, click to decode, lasso to fit a region and sample.

    Without a model the map, colouring and hover (original images, when the
    store's source is on this machine) work; decoding is disabled. Stop with Ctrl-C.
    """
    from .._errors import LatentlabError
    from ..explore import check_port, serve

    if max_glyphs < 1:
        raise LatentlabError(f"--max-glyphs: expected at least 1 point, got {max_glyphs}")
    kw = _optional_model(model, encoder, decoder)
    check_port(port, host, allow_remote=allow_remote)  # before loading anything: a busy port costs nothing
    _check_before_loading(store, kw, fragments)
    if not kw["model"] and not kw["decoder"]:
        typer.echo("no model given: the map works, decoding is disabled (give --model to decode)")

    from ..explore._server import is_loopback

    if not is_loopback(host):  # said first, before the minutes of loading: the user may still stop it
        typer.echo(f"warning: serving to other machines on {host}; anyone with the URL printed below (it holds the"
                   f" access token) can see the store's points and images and save into the --out folder", err=True)

    def ready(url: str) -> None:
        typer.echo(f"latentlab explore: {url}  (Ctrl-C to stop)")

    from ._common import announce_stages

    try:
        with announce_stages(live=False):  # startup says what it is doing; then the server's own lines
            serve(store, kw["model"], encoder=kw["encoder"], decoder=kw["decoder"], fragments=fragments, out_dir=out,
                  port=port, host=host, on_ready=ready, max_glyphs=max_glyphs, allow_remote=allow_remote)
    except KeyboardInterrupt:
        pass
    typer.echo("stopped")
    return 0


@app.command()
@reads_store("store")
def export(
    store: StoreArg,
    projector: Annotated[Optional[Path], typer.Option("--projector", help="Folder for TensorBoard projector files.")] = None,
    parquet: Annotated[Optional[Path], typer.Option("--parquet", help="Parquet file (z, PCs, ids, labels).")] = None,
    model: ModelDir = None,
    encoder: EncoderFile = None,
    decoder: DecoderFile = None,
    fragments: FragmentsOpt = None,
    max_points: Annotated[int, typer.Option("--max-points", help="projector: seeded subsample above this many points.")] = 100_000,
    tensor_format: Annotated[str, typer.Option("--tensor-format", help="projector: auto, tsv or bytes (raw float32).")] = "auto",
    no_sprite: Annotated[bool, typer.Option("--no-sprite", help="projector: no sprite image.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the projector subsample.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
) -> int:
    """Export a z-store for other viewers: TensorBoard projector files and/or a Parquet table."""
    from .._errors import LatentlabError
    from ..explore import export_parquet, export_projector, load_explore_data
    from ..explore._export import PROJECTOR_FILES, _check_target_files

    if projector is None and parquet is None:
        raise LatentlabError("nothing to export: give --projector DIR and/or --parquet FILE")
    if tensor_format not in ("auto", "tsv", "bytes"):
        raise LatentlabError(f"--tensor-format: expected auto, tsv or bytes, got {tensor_format!r}")
    if max_points < 1:
        raise LatentlabError(f"--max-points: expected at least 1, got {max_points}")
    if parquet is not None and parquet.suffix.lower() != ".parquet":
        raise LatentlabError(f"--parquet {parquet}: the file name must end in .parquet")
    if projector is not None:
        if projector.exists() and not projector.is_dir():
            raise LatentlabError(f"--projector {projector}: exists and is not a folder")
        _check_target_files([projector / name for name in PROJECTOR_FILES], overwrite)
    if parquet is not None:
        _check_target_files([parquet], overwrite)
    from .._stages import stage
    from ._common import announce_stages

    kw = _optional_model(model, encoder, decoder)
    _check_before_loading(store, kw, fragments)
    with announce_stages():
        stage("reading the store, PCA and colourings" + (" (and loading the model)" if any(kw.values()) else ""))
        data = load_explore_data(store, model_dir=kw["model"], encoder=kw["encoder"], decoder=kw["decoder"],
                                 fragments=fragments)
        if projector is not None:
            stage(f"projector files{'' if no_sprite else ' and the sprite image'} in {projector}")
            result = export_projector(data, projector, max_points=max_points, seed=seed, tensor_format=tensor_format,
                                      sprite=not no_sprite, overwrite=overwrite)
            for note in result["notes"]:
                typer.echo(note, err=note.startswith("warning:"))
            typer.echo(f"wrote {', '.join(str(p) for p in result['files'].values())} ({result['n_points']:,} points)")
        if parquet is not None:
            stage(f"Parquet table {parquet}")
            result = export_parquet(data, parquet, overwrite=overwrite)
            for note in result["notes"] if projector is None else ():  # the projector said them already
                typer.echo(note, err=note.startswith("warning:"))
            typer.echo(f"wrote {parquet} ({result['n_points']:,} rows; columns {', '.join(result['columns'][:6])}, …)")
    return 0
