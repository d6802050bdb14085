"""CLI: train, encode, info, demo, merge (and import, subset from _stores)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import app


@app.command()
def info(
    store: Annotated[Path, typer.Argument(help="z-store HDF5 file")],
    check: Annotated[bool, typer.Option("--check", help="Scan /z for NaN/Inf rows and list their ids.")] = False,
    allow_incomplete: Annotated[bool, typer.Option(help="Describe an unfinished store too.")] = True,
) -> int:
    """Print N, z_dim, provenance and completeness of a z-store."""
    from ..store import open_store

    with open_store(store, allow_incomplete=allow_incomplete) as s:
        typer.echo(f"store       {s.path}")
        typer.echo(f"rows        {s.n}")
        typer.echo(f"z_dim       {s.z_dim}")
        typer.echo(f"complete    {'yes' if s.complete else 'NO (resume with latentlab encode --resume)'}")
        typer.echo(f"partition   {'yes' if s.partition is not None else 'no'}")
        typer.echo(f"attributes  {len(s.attribute_names) if s.attributes is not None else 'no'}")
        skipped = s.skipped()
        typer.echo(f"skipped     {len(skipped)} image(s)")
        for key in ("dataset", "source", "image_size", "channels", "model_sha256", "latentlab_version", "created"):
            if key in s.attrs:
                typer.echo(f"{key:<11} {s.attrs[key]}" if len(key) < 12 else f"{key}\n{'':<11} {s.attrs[key]}")
        if check:
            bad = s.check_finite()
            if len(bad):
                ids = s.ids[bad] if s.ids is not None else bad
                typer.echo(f"non-finite  {len(bad)} row(s): " + ", ".join(map(str, ids[:50])) + (" …" if len(bad) > 50 else ""))
                return 1
            typer.echo("non-finite  none")
    return 0


DatasetOpt = Annotated[str, typer.Option("--dataset", help="Image source kind: celeba, folder, npz, lfw or fashion-mnist.")]
DataOpt = Annotated[Optional[Path], typer.Option("--data", help="Image source: a directory (celeba, folder, fashion-mnist: default /usr/share/datasets/fashion-mnist) or an .npz file.")]


def _crop(text: Optional[str]):
    from ._common import parse_int_list

    return tuple(parse_int_list(text, "--crop", 2)) if text else None


@app.command()
def train(
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    data: DataOpt = None,
    dataset: DatasetOpt = "celeba",
    image_size: Annotated[int, typer.Option(help="Square input size (multiple of 16).")] = 96,
    channels: Annotated[int, typer.Option(help="1 (grey) or 3 (RGB).")] = 3,
    z_dim: Annotated[int, typer.Option(help="Latent dimension.")] = 256,
    filters: Annotated[str, typer.Option(help="Four encoder layer widths; the decoder mirrors them.")] = "32,64,128,128",
    epochs: Annotated[int, typer.Option(help="Total epochs (with --resume: train up to this many).")] = 24,
    batch_size: Annotated[int, typer.Option(help="Images per training step.")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 5e-4,
    loss: Annotated[str, typer.Option(help="bce or mse.")] = "bce",
    limit: Annotated[Optional[int], typer.Option(help="Use only the first N images.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    partition: Annotated[str, typer.Option(help="CelebA partition: auto (train if listed), train, val, test, all.")] = "auto",
    crop: Annotated[Optional[str], typer.Option(help="Centre crop W,H before resizing (CelebA default 178,178).")] = None,
    flip: Annotated[bool, typer.Option("--flip", help="Augment with random horizontal flips.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last epoch checkpoint in --out.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a model already in --out.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail if any image cannot be decoded.")] = False,
    distribute: Annotated[Optional[bool], typer.Option("--distribute/--no-distribute", help="Data-parallel training with tf.distribute.MirroredStrategy (default: when more than one GPU is visible).")] = None,
) -> int:
    """Train the reference convolutional autoencoder and write MODEL_DIR."""
    from ..model import train as train_model
    from ._common import parse_int_list

    result = train_model(
        data, dataset, out, image_size=image_size, channels=channels, z_dim=z_dim,
        filters=parse_int_list(filters, "--filters", 4), epochs=epochs, batch_size=batch_size, lr=lr, loss=loss,
        limit=limit, seed=seed, partition=partition, crop=_crop(crop), augment_flip=flip, resume=resume,
        overwrite=overwrite, strict=strict, distribute=distribute,
    )
    for path, reason in result.skipped[:20]:
        typer.echo(f"skipped {path}: {reason}", err=True)
    if result.skipped:
        typer.echo(f"skipped {len(result.skipped)} undecodable image(s)", err=True)
    loss_txt = f", final loss {result.final_loss:.4f}" if result.final_loss is not None else " (already trained)"
    typer.echo(f"model in {result.model_dir}: {result.n_images} images, {result.config.epochs_done} epochs{loss_txt}")
    return 0


@app.command()
def encode(
    out: Annotated[Path, typer.Option("--out", help="z-store (HDF5) to write.")],
    model: Annotated[Optional[Path], typer.Option("--model", help="Model directory from `latentlab train`.")] = None,
    encoder: Annotated[Optional[Path], typer.Option(help="Bring your own encoder .keras (with --decoder).")] = None,
    decoder: Annotated[Optional[Path], typer.Option(help="Bring your own decoder .keras (with --encoder).")] = None,
    data: DataOpt = None,
    dataset: DatasetOpt = "celeba",
    partition: Annotated[str, typer.Option(help="CelebA partition: train, val, test or all; Fashion-MNIST: train, test or all.")] = "all",
    limit: Annotated[Optional[int], typer.Option(help="Encode only the first N images.")] = None,
    attributes: Annotated[Optional[Path], typer.Option("--attributes", help="CSV of per-image attributes (id column + columns; see docs/sampling.md) stored as /attributes.")] = None,
    crop: Annotated[Optional[str], typer.Option(help="Centre crop W,H (default: the model's).")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass (rows are committed per /z chunk, at least every 4,096).")] = 256,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted store.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing store.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail (exit 1) if any image cannot be decoded.")] = False,
    workers: Annotated[Optional[int], typer.Option(help="Decode threads (default: all cores).")] = None,
    shard: Annotated[Optional[str], typer.Option(help="Encode only shard I/N (0-based): a contiguous block of the rows; join the parts with `latentlab merge`.")] = None,
    distribute: Annotated[Optional[bool], typer.Option("--distribute/--no-distribute", help="Split batches over devices with tf.distribute.MirroredStrategy (default: when more than one GPU is visible).")] = None,
    model_threads: Annotated[str, typer.Option(help="TensorFlow intra-op threads: a number, or auto (TensorFlow's default, all cores; 1 can be faster on a busy machine).")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> int:
    """Encode every image into a self-describing HDF5 z-store (streamed, resumable)."""
    from ..encoding import encode as encode_images
    from ._common import progress_bar

    bar, update = progress_bar("encoding")
    if quiet:
        bar, update = None, None
    try:
        if bar:
            bar.start()
        result = encode_images(
            model, data, dataset, out, encoder=encoder, decoder=decoder, partition=partition, limit=limit,
            crop=_crop(crop), batch_size=batch_size, resume=resume, overwrite=overwrite, strict=strict,
            workers=workers, progress=update, shard=shard, distribute=distribute,
            model_threads=model_threads if model_threads == "auto" else _positive_int(model_threads, "--model-threads"),
            attributes=attributes,
        )
    finally:
        if bar:
            bar.stop()
    for path, reason in result.skipped[:20]:
        typer.echo(f"skipped {path}: {reason}", err=True)
    if result.skipped:
        typer.echo(f"skipped {len(result.skipped)} undecodable image(s) (listed in /skipped of the store)", err=True)
    rate = f" at {result.images_per_second:,.0f} img/s" if result.n_encoded else ""
    typer.echo(f"{result.path}: {result.n_rows} rows ({result.n_encoded} encoded now{rate})")
    return 0


def _positive_int(text: str, name: str) -> int:
    from .._errors import LatentlabError

    try:
        value = int(text)
    except ValueError:
        raise LatentlabError(f"{name}: expected a positive integer or auto, got {text!r}") from None
    if value < 1:
        raise LatentlabError(f"{name}: expected a positive integer or auto, got {text!r}")
    return value


@app.command()
def merge(
    parts: Annotated[list[Path], typer.Argument(help="Part stores written by `latentlab encode --shard I/N`.")],
    out: Annotated[Path, typer.Option("--out", help="Merged z-store to write.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing store.")] = False,
) -> int:
    """Join the parts of a sharded encode into one store (identical to a single-process encode)."""
    from ..store import merge_stores, open_store

    path = merge_stores(parts, out, overwrite=overwrite)
    with open_store(path) as s:
        n, n_skipped = s.n, len(s.skipped())
    typer.echo(f"{path}: {n} rows from {len(parts)} part(s), {n_skipped} skipped image(s)")
    return 0


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("latentlab-demo"),
    quick: Annotated[bool, typer.Option("--quick", help="Fewer epochs, smaller analyses (CI).")] = False,
    epochs: Annotated[Optional[int], typer.Option(help="Override the number of training epochs.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a demo already in --out.")] = False,
) -> int:
    """Train on 100 offline LFW faces, encode them, and write report.html (no download)."""
    from ..demo import DEMO_EPOCHS, run_demo
    from ._common import announce_stages, epoch_progress

    total = epochs or DEMO_EPOCHS["quick" if quick else "full"]
    bar, on_epoch = epoch_progress("training", total)
    with bar, announce_stages():  # epochs, then the report's sections and their stages
        result = run_demo(out, quick=quick, epochs=epochs, seed=seed, overwrite=overwrite, log=typer.echo,
                          on_epoch=on_epoch)
    typer.echo(f"demo finished in {result.seconds:.0f} s")
    typer.echo(f"model:  {result.model_dir}")
    typer.echo(f"store:  {result.store}")
    typer.echo(f"report: {result.report}")
    return 0


# import and subset live in their own module; importing it here registers them after the store commands
from ._stores import import_cmd, subset  # noqa: E402,F401
