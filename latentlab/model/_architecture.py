"""The reference convolutional autoencoder (Keras 3 functional API)."""

from __future__ import annotations

from .._tf import import_keras

keras = import_keras()
layers = keras.layers


def _check(image_size: int, filters) -> None:
    if image_size % 16:
        raise ValueError(f"image size must be divisible by 16 (four stride-2 layers), got {image_size}")
    if len(filters) != 4:
        raise ValueError(f"filters must list 4 layer widths, got {list(filters)}")


def build_encoder(image_size: int = 96, channels: int = 3, z_dim: int = 256, filters=(32, 64, 128, 128)) -> keras.Model:
    """4 × (Conv2D 3×3 stride 2 + LeakyReLU) → Flatten → Dense(z_dim)."""
    _check(image_size, filters)
    x = inp = keras.Input((image_size, image_size, channels), name="image")
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 3, strides=2, padding="same", name=f"conv{i + 1}")(x)
        x = layers.LeakyReLU(0.2, name=f"act{i + 1}")(x)
    x = layers.Flatten(name="flatten")(x)
    z = layers.Dense(z_dim, name="z")(x)
    return keras.Model(inp, z, name="encoder")


def build_decoder(image_size: int = 96, channels: int = 3, z_dim: int = 256, filters=(32, 64, 128, 128)) -> keras.Model:
    """Dense → reshape to (S/16, S/16, F) → 4 × (Conv2DTranspose stride 2 + LeakyReLU) → Conv2D sigmoid."""
    _check(image_size, filters)
    s = image_size // 16
    widths = list(filters)[::-1]
    z = keras.Input((z_dim,), name="z")
    x = layers.Dense(s * s * widths[0], name="dense")(z)
    x = layers.Reshape((s, s, widths[0]), name="reshape")(x)
    x = layers.LeakyReLU(0.2, name="act0")(x)
    for i, f in enumerate(widths):
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", name=f"deconv{i + 1}")(x)
        x = layers.LeakyReLU(0.2, name=f"dact{i + 1}")(x)
    out = layers.Conv2D(channels, 3, padding="same", activation="sigmoid", name="image")(x)
    return keras.Model(z, out, name="decoder")


def build_autoencoder(encoder: keras.Model, decoder: keras.Model) -> keras.Model:
    """Chain encoder and decoder into one trainable model (sub-models stay addressable by name)."""
    inp = keras.Input(encoder.input_shape[1:], name="input")
    return keras.Model(inp, decoder(encoder(inp)), name="autoencoder")
