"""Train the reference autoencoder with ``keras.Model.fit`` and callbacks."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._tf import import_keras
from .._errors import DataSourceError, LatentlabError, ModelError
from .._version import __version__
from ..sources import ImageSource, Preprocessing, load_all, open_source
from ._config import ModelConfig, read_config
from ._io import CHECKPOINT_FILE, ENCODER_FILE

HISTORY_FILE = "history.csv"
#: Above this many bytes, decoded training images live in a memmap under MODEL_DIR/cache
#: (removed when training ends, also on failure; decoding again costs less than keeping GBs).
_IN_MEMORY_LIMIT = 1 << 30
CACHE_DIR = "cache"
MAX_Z_DIM = 65536


@dataclass
class TrainResult:
    """What :func:`train` did."""

    model_dir: Path
    config: ModelConfig
    n_images: int
    skipped: list[tuple[str, str]]
    epochs_run: int
    final_loss: float | None




def train(
    data: str | os.PathLike | None = None,
    dataset: str = "celeba",
    out: str | os.PathLike = "model",
    *,
    source: ImageSource | None = None,
    image_size: int = 96,
    channels: int = 3,
    z_dim: int = 256,
    filters=(32, 64, 128, 128),
    epochs: int = 24,
    batch_size: int = 64,
    lr: float = 5e-4,
    loss: str = "bce",
    limit: int | None = None,
    seed: int = 0,
    partition: str = "auto",
    crop: tuple[int, int] | None = None,
    augment_flip: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    verbose: int | str = "auto",
    strict: bool = False,
    distribute: bool | None = None,
    on_epoch=None,
) -> TrainResult:
    """Train an autoencoder and write a model directory.

    Parameters
    ----------
    data, dataset :
        Image source (see :func:`latentlab.sources.open_source`); or pass ``source``.
    out : path-like
        Model directory: ``encoder.keras``, ``decoder.keras``, ``config.json``,
        ``history.csv``, ``checkpoint.keras``, ``previews/``.
    image_size, channels, z_dim, filters :
        Architecture (image size divisible by 16; four layer widths).
    epochs : int
        Total epochs (with ``resume``, training continues up to this number).
    loss : {'bce', 'mse'}
    partition : {'auto', 'train', 'val', 'test', 'all'}
        ``auto`` uses CelebA's train partition when a partition file exists.
    augment_flip : bool
        Random horizontal flips.
    resume : bool
        Continue from the last epoch checkpoint in ``out``.
    overwrite : bool
        Replace an existing model in ``out``.
    strict : bool
        Fail (exit 1) if any image cannot be decoded.
    distribute : bool, optional
        Train data-parallel with ``tf.distribute.MirroredStrategy`` (the
        model is built and compiled in its scope; each batch is split over
        the devices). Default: only when more than one GPU is visible;
        ``True`` forces it (also with one device), ``False`` never.
    on_epoch : callable, optional
        Called after every epoch as ``on_epoch(epoch, epochs, loss)`` (epochs
        counted from 1; the CLI's progress uses it).

    Returns
    -------
    TrainResult
    """
    out = Path(out)
    if loss not in ("bce", "mse"):
        raise LatentlabError(f"--loss must be bce or mse, not {loss!r}")
    if image_size % 16 or image_size < 16:
        raise LatentlabError(f"--image-size must be a positive multiple of 16, got {image_size}")
    filters = [int(f) for f in filters]
    if len(filters) != 4 or min(filters) < 1:
        raise LatentlabError(f"--filters needs four positive layer widths, got {filters}")
    if channels not in (1, 3):
        raise LatentlabError(f"--channels must be 1 or 3, got {channels}")
    from .._checks import check_crop, check_float, check_int, check_output_dir

    epochs = check_int(epochs, "--epochs")
    batch_size = check_int(batch_size, "--batch-size")
    z_dim = check_int(z_dim, "--z-dim", maximum=MAX_Z_DIM)
    lr = check_float(lr, "--lr", low=0, low_inclusive=False, high=10)
    limit = check_int(limit, "--limit", optional=True)
    crop = check_crop(crop)
    if resume and overwrite:
        raise LatentlabError("--resume and --overwrite: give one (continue the model, or replace it)")
    check_output_dir(out)

    existing = (out / ENCODER_FILE).exists() or (out / CHECKPOINT_FILE).exists()
    if existing and not (resume or overwrite):
        raise ModelError(f"{out}: already holds a model (use --resume to continue it or --overwrite to replace it)")
    if resume and (out / CHECKPOINT_FILE).exists():
        config = read_config(out)
        if config.epochs_done >= epochs:
            return TrainResult(out, config, int(config.data.get("n_images", 0)), [], 0, None)
    else:
        resume = False
        config = None

    if source is None:
        if partition == "auto":
            from ..sources._celeba import PARTITION_FILE

            listed = dataset == "celeba" and data and (Path(data) / PARTITION_FILE).exists()
            partition = "train" if listed or dataset == "fashion-mnist" else "all"
        source = open_source(dataset, data, partition=partition, limit=limit)
    elif limit is not None and limit < len(source):
        source = source.subset(np.arange(limit))

    if config is None:
        config = ModelConfig(
            image_size=image_size, channels=channels, z_dim=z_dim, filters=filters, loss=loss, lr=lr,
            batch_size=batch_size, epochs=epochs, seed=seed, augment_flip=augment_flip,
            crop=list(crop) if crop else (list(source.default_crop) if source.default_crop else None),
            data={"dataset": source.dataset, "location": source.location, "partition": partition},
            latentlab_version=__version__,
        )
    config.epochs = epochs
    prep = Preprocessing(config.image_size, config.channels, tuple(config.crop) if config.crop else None)

    out.mkdir(parents=True, exist_ok=True)
    try:
        return _train_on(source, prep, out, config, resume=resume, strict=strict, seed=seed, epochs=epochs,
                         verbose=verbose, distribute=distribute, on_epoch=on_epoch)
    finally:
        _remove_cache(out)


def _remove_cache(out: Path) -> None:
    import shutil

    cache = out / CACHE_DIR
    if cache.is_dir() and not cache.is_symlink():
        shutil.rmtree(cache, ignore_errors=True)


def _remove_stale_previews(previews: Path) -> None:
    # A fresh (not resumed) training must not leave the previous model's epoch_NNN.png behind:
    # the report shows the highest-numbered preview as the last epoch.
    if previews.is_dir():
        for stale in previews.glob("epoch_*.png"):
            stale.unlink(missing_ok=True)


def _train_on(source, prep, out: Path, config: ModelConfig, *, resume, strict, seed, epochs, verbose, distribute,
              on_epoch=None):
    images, skipped = _decode_training_images(source, prep, out)
    if strict and skipped:
        from .._errors import StrictModeError

        listing = "; ".join(f"{p}: {r}" for p, r in skipped[:20]) + (f"; … {len(skipped) - 20} more" if len(skipped) > 20 else "")
        raise StrictModeError(f"--strict: {len(skipped)} image(s) could not be decoded ({listing})")
    if len(images) == 0:
        raise DataSourceError(f"{source.location}: no image could be decoded")
    config.data["n_images"] = int(len(images))
    config.data["n_skipped"] = len(skipped)

    keras = import_keras()
    keras.utils.set_random_seed(seed + config.epochs_done)
    from ._architecture import build_autoencoder, build_decoder, build_encoder

    strategy = training_strategy(distribute)
    with strategy.scope():
        if resume:
            try:
                autoencoder = keras.saving.load_model(out / CHECKPOINT_FILE, compile=True, safe_mode=True)
            except Exception as exc:
                raise ModelError(f"{out / CHECKPOINT_FILE}: cannot resume from checkpoint ({str(exc)[:120]})") from None
            encoder, decoder = autoencoder.get_layer("encoder"), autoencoder.get_layer("decoder")
        else:
            encoder = build_encoder(config.image_size, config.channels, config.z_dim, config.filters)
            decoder = build_decoder(config.image_size, config.channels, config.z_dim, config.filters)
            autoencoder = build_autoencoder(encoder, decoder)
            autoencoder.compile(
                optimizer=keras.optimizers.Adam(config.lr),
                loss="binary_crossentropy" if config.loss == "bce" else "mse",
            )
            config.epochs_done = 0
    if not resume:
        _remove_stale_previews(out / "previews")

    from ._callbacks import EpochCheckpoint, ImageBatches, ReconstructionPreview

    batches = ImageBatches(images, config.batch_size, flip=config.augment_flip, seed=seed + config.epochs_done)
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    callbacks = [
        # the checkpoint first: a kill between the two loses a history row, never an epoch of work
        EpochCheckpoint(out, config, encoder, decoder),
        keras.callbacks.CSVLogger(str(out / HISTORY_FILE), append=resume),
        ReconstructionPreview(out / "previews", images[: min(8, len(images))]),
    ]
    if on_epoch is not None:
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: on_epoch(epoch + 1, epochs, (logs or {}).get("loss"))))
    start = config.epochs_done
    history = autoencoder.fit(batches, epochs=epochs, initial_epoch=start, callbacks=callbacks, verbose=verbose)
    losses = history.history.get("loss", [])
    return TrainResult(out, config, len(images), skipped, epochs - start, float(losses[-1]) if losses else None)


def training_strategy(distribute: bool | None = None):
    """The ``tf.distribute`` strategy for training.

    ``MirroredStrategy`` over the visible GPUs when ``distribute`` is true,
    or when it is ``None`` and more than one GPU is visible; otherwise the
    default (single-device) strategy.
    """
    import_keras()
    import tensorflow as tf

    if distribute is False:
        return tf.distribute.get_strategy()
    if distribute or len(tf.config.list_physical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _decode_training_images(source: ImageSource, prep: Preprocessing, out: Path):
    shape = (len(source), prep.image_size, prep.image_size, prep.channels)
    buffer = None
    if math.prod(shape) > _IN_MEMORY_LIMIT:
        (out / CACHE_DIR).mkdir(exist_ok=True)
        buffer = np.lib.format.open_memmap(out / CACHE_DIR / "images.npy", mode="w+", dtype=np.uint8, shape=shape)
    images, _, skipped = load_all(source, prep, out=buffer)
    # entries the listing could not even examine (symlink loops) count as skipped too
    return images, list(getattr(source, "listing_skipped", None) or []) + skipped
