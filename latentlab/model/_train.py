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
from ._config import CONFIG_FILE, ModelConfig, read_config
from ._io import DECODER_FILE, ENCODER_FILE

CHECKPOINT_FILE = "checkpoint.keras"
HISTORY_FILE = "history.csv"
#: Above this many bytes, decoded training images live in a memmap under MODEL_DIR/cache.
_IN_MEMORY_LIMIT = 1 << 30


@dataclass
class TrainResult:
    """What :func:`train` did."""

    model_dir: Path
    config: ModelConfig
    n_images: int
    skipped: list[tuple[str, str]]
    epochs_run: int
    final_loss: float | None


_keras = import_keras


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
    if epochs < 1 or batch_size < 1 or z_dim < 1 or lr <= 0:
        raise LatentlabError("--epochs, --batch-size, --z-dim and --lr must be positive")

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

            partition = "train" if dataset == "celeba" and data and (Path(data) / PARTITION_FILE).exists() else "all"
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
    images, skipped = _decode_training_images(source, prep, out)
    if strict and skipped:
        from .._errors import StrictModeError

        listing = "; ".join(f"{p}: {r}" for p, r in skipped[:20]) + (f"; … {len(skipped) - 20} more" if len(skipped) > 20 else "")
        raise StrictModeError(f"--strict: {len(skipped)} image(s) could not be decoded ({listing})")
    if len(images) == 0:
        raise DataSourceError(f"{source.location}: no image could be decoded")
    config.data["n_images"] = int(len(images))
    config.data["n_skipped"] = len(skipped)

    keras = _keras()
    keras.utils.set_random_seed(seed + config.epochs_done)
    from ._architecture import build_autoencoder, build_decoder, build_encoder

    strategy = training_strategy(distribute)
    with strategy.scope():
        if resume:
            try:
                autoencoder = keras.saving.load_model(out / CHECKPOINT_FILE, compile=True)
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

    batches = _ImageBatches(images, config.batch_size, flip=config.augment_flip, seed=seed + config.epochs_done)
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    callbacks = [
        # the checkpoint first: a kill between the two loses a history row, never an epoch of work
        _EpochCheckpoint(out, config, encoder, decoder),
        keras.callbacks.CSVLogger(str(out / HISTORY_FILE), append=resume),
        _PreviewCallback(out / "previews", images[: min(8, len(images))]),
    ]
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
    _keras()
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
        (out / "cache").mkdir(exist_ok=True)
        buffer = np.lib.format.open_memmap(out / "cache" / "images.npy", mode="w+", dtype=np.uint8, shape=shape)
    images, _, skipped = load_all(source, prep, out=buffer)
    # entries the listing could not even examine (symlink loops) count as skipped too
    return images, list(getattr(source, "listing_skipped", None) or []) + skipped


def _atomic_save(model, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


class _ImageBatches:
    """Keras ``PyDataset`` of uint8 images → (x, x) float32 batches, reshuffled each epoch."""

    def __new__(cls, *args, **kwargs):
        keras = _keras()

        class Batches(keras.utils.PyDataset):
            def __init__(self, images, batch_size, flip, seed):
                super().__init__()
                self.images, self.batch_size, self.flip = images, batch_size, flip
                self.rng = np.random.default_rng(seed)
                self.order = self.rng.permutation(len(images))

            def __len__(self):
                return math.ceil(len(self.images) / self.batch_size)

            def __getitem__(self, idx):
                rows = np.sort(self.order[idx * self.batch_size : (idx + 1) * self.batch_size])
                x = self.images[rows].astype(np.float32) * (1.0 / 255.0)
                if self.flip:
                    flip = self.rng.random(len(x)) < 0.5
                    x[flip] = x[flip, :, ::-1]
                return x, x

            def on_epoch_end(self):
                self.order = self.rng.permutation(len(self.images))

        return Batches(*args, **kwargs)


class _EpochCheckpoint:
    def __new__(cls, out: Path, config: ModelConfig, encoder, decoder):
        keras = _keras()

        class EpochCheckpoint(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                # Order matters for --resume: models first, then the config that says they are there.
                _atomic_save(self.model, out / CHECKPOINT_FILE)
                _atomic_save(encoder, out / ENCODER_FILE)
                _atomic_save(decoder, out / DECODER_FILE)
                config.epochs_done = epoch + 1
                config.data["final_loss"] = float((logs or {}).get("loss", float("nan")))
                config.save(out)

        return EpochCheckpoint()


class _PreviewCallback:
    def __new__(cls, folder: Path, originals: np.ndarray):
        keras = _keras()

        class Preview(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                folder.mkdir(parents=True, exist_ok=True)
                x = originals.astype(np.float32) / 255.0
                recon = np.asarray(self.model(x, training=False))
                save_comparison_png(originals, recon, folder / f"epoch_{epoch + 1:03d}.png")

        return Preview()


def save_comparison_png(originals: np.ndarray, reconstructions: np.ndarray, path: Path, min_size: int = 64) -> Path:
    """Originals in the top row, reconstructions below, as one PNG (no matplotlib)."""
    from PIL import Image

    def to_u8(a):
        a = np.asarray(a)
        return a if a.dtype == np.uint8 else np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)

    top, bottom = to_u8(originals), to_u8(reconstructions)
    n, h, w, c = top.shape
    grid = np.full((2 * h + 3, n * (w + 1) + 1, c), 255, np.uint8)
    for i in range(n):
        x0 = 1 + i * (w + 1)
        grid[1 : 1 + h, x0 : x0 + w] = top[i]
        grid[2 + h : 2 + 2 * h, x0 : x0 + w] = bottom[i]
    img = Image.fromarray(grid[:, :, 0] if c == 1 else grid)
    scale = max(1, math.ceil(min_size / h))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path
