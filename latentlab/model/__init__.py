"""The autoencoder: reference architecture, training, loading (imports TensorFlow on use).

A model directory holds ``encoder.keras``, ``decoder.keras``,
``config.json``, ``history.csv``, ``checkpoint.keras`` (the whole AE with
optimizer state, for ``--resume``) and ``previews/epoch_NNN.png``.
"""

from ._config import ModelConfig, read_config
from ._io import Autoencoder, file_sha256, load_autoencoder

__all__ = [
    "Autoencoder",
    "ModelConfig",
    "build_autoencoder",
    "build_decoder",
    "build_encoder",
    "file_sha256",
    "load_autoencoder",
    "read_config",
    "train",
]


def __getattr__(name):
    if name in ("build_encoder", "build_decoder", "build_autoencoder"):
        from . import _architecture

        return getattr(_architecture, name)
    if name == "train":
        from ._train import train

        return train
    raise AttributeError(name)
