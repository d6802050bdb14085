"""The Keras pieces of training: the image batches and the per-epoch callbacks.

Imported only by :func:`latentlab.model.train`, after TensorFlow has started.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .._tf import import_keras
from ._config import ModelConfig
from ._io import CHECKPOINT_FILE, DECODER_FILE, ENCODER_FILE

keras = import_keras()


def atomic_save(model, path: Path) -> None:
    """Save a Keras model under a unique temporary name, then rename it into place."""
    from .._io import atomic_path

    with atomic_path(path) as tmp:  # Keras needs the .keras suffix, which atomic_path keeps
        model.save(tmp)


class ImageBatches(keras.utils.PyDataset):
    """uint8 images → (x, x) float32 batches in [0, 1], reshuffled each epoch, optional random flips."""

    def __init__(self, images: np.ndarray, batch_size: int, flip: bool, seed: int):
        super().__init__()
        self.images, self.batch_size, self.flip = images, batch_size, flip
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(images))

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, idx):
        rows = np.sort(self.order[idx * self.batch_size : (idx + 1) * self.batch_size])
        x = self.images[rows].astype(np.float32) * (1.0 / 255.0)
        if self.flip:
            flip = self.rng.random(len(x)) < 0.5
            x[flip] = x[flip, :, ::-1]
        return x, x

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.images))


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: the whole AE (for ``--resume``), encoder, decoder, then ``config.json``."""

    def __init__(self, out: Path, config: ModelConfig, encoder, decoder):
        super().__init__()
        self.out, self.config, self.encoder, self.decoder = out, config, encoder, decoder

    def on_epoch_end(self, epoch, logs=None):
        # Order matters for --resume: models first, then the config that says they are there.
        atomic_save(self.model, self.out / CHECKPOINT_FILE)
        atomic_save(self.encoder, self.out / ENCODER_FILE)
        atomic_save(self.decoder, self.out / DECODER_FILE)
        self.config.epochs_done = epoch + 1
        self.config.data["final_loss"] = float((logs or {}).get("loss", float("nan")))
        self.config.save(self.out)


class ReconstructionPreview(keras.callbacks.Callback):
    """After every epoch: ``previews/epoch_NNN.png``, originals above, reconstructions below."""

    def __init__(self, folder: Path, originals: np.ndarray):
        super().__init__()
        self.folder, self.originals = folder, originals

    def on_epoch_end(self, epoch, logs=None):
        from ..plots import write_tiles_png

        recon = np.asarray(self.model(self.originals.astype(np.float32) / 255.0, training=False))
        write_tiles_png(np.concatenate([self.originals / 255.0, recon]), self.folder / f"epoch_{epoch + 1:03d}.png",
                        ncols=len(self.originals))
