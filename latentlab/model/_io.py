"""Load a trained model (a latentlab model directory, or bring-your-own ``.keras`` files)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from .._tf import import_keras
from .._errors import ModelError
from ._config import CONFIG_FILE, ModelConfig, read_config

ENCODER_FILE, DECODER_FILE = "encoder.keras", "decoder.keras"
#: The whole autoencoder with optimizer state, saved after every epoch (for ``train --resume``).
CHECKPOINT_FILE = "checkpoint.keras"


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


#: A ``.keras`` file holds config.json, metadata.json, model.weights.h5 and maybe assets.
_MAX_KERAS_MEMBERS = 1_000


def _check_keras_archive(path: Path) -> None:
    """A ``.keras`` model is a zip archive: its directory and members are capped before Keras inflates any."""
    from .._zipsafe import ZipLimits, close_zip, memory_bytes, open_zip

    half = memory_bytes() // 2
    limits = ZipLimits(max_members=_MAX_KERAS_MEMBERS, max_member_bytes=half, max_total_bytes=half)
    try:
        close_zip(open_zip(path, str(path), limits, error=ModelError, what="Keras model (.keras zip archive)"))
    except ModelError as exc:  # one wording for every model file that cannot be loaded, whichever check refused it
        reason = str(exc).removeprefix(f"{path}: ")
        raise ModelError(f"{path}: cannot load Keras model ({reason})") from None


def _load_keras(path: Path):
    """Load a model file someone else may have written: size caps first, then Keras' safe mode.

    ``safe_mode=True`` (explicit, whatever Keras' default becomes) refuses a ``Lambda`` layer's
    pickled Python bytecode and any class outside Keras and the registered ones, so loading a
    model never runs code that came with the file.
    """
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    if path.suffix == ".keras":
        _check_keras_archive(path)
    keras = import_keras()
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises ValueError, zipfile.BadZipFile, OSError… for a bad file
        msg = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise ModelError(f"{path}: cannot load Keras model ({msg})") from None


class Autoencoder:
    """An encoder/decoder pair with shape checks and batched, compiled calls.

    Use :func:`load_autoencoder` to create one.

    Attributes
    ----------
    encoder, decoder : keras.Model
    config : dict
    z_dim : int
    image_shape : (H, W, C)
    sha256 : str
        Hash of the encoder file (recorded in z-stores as ``model_sha256``).
    """

    def __init__(self, encoder, decoder, *, config: dict | None = None, sha256: str = "", source: str = ""):
        dec_in, dec_out = tuple(decoder.input_shape), tuple(decoder.output_shape)
        if len(dec_in) != 2:
            raise ModelError(f"{source}: decoder input must be (N, z_dim), found {dec_in}")
        if len(dec_out) != 4:
            raise ModelError(f"{source}: decoder output must be images (N, H, W, C), found {dec_out}")
        if encoder is not None:
            enc_in, enc_out = tuple(encoder.input_shape), tuple(encoder.output_shape)
            if len(enc_in) != 4:
                raise ModelError(f"{source}: encoder input must be images (N, H, W, C), found {enc_in}")
            if len(enc_out) != 2:
                raise ModelError(f"{source}: encoder output must be (N, z_dim), found {enc_out}")
            if dec_in[1] != enc_out[1]:
                raise ModelError(f"{source}: decoder takes {dec_in} but the encoder gives {enc_out} (z_dim mismatch)")
            if tuple(dec_out[1:]) != tuple(enc_in[1:]):
                raise ModelError(f"{source}: decoder output {dec_out[1:]} does not match encoder input {enc_in[1:]}")
        self.encoder, self.decoder = encoder, decoder
        self.z_dim = int(dec_in[1])
        self.image_shape = tuple(int(v) for v in dec_out[1:])
        self.config = dict(config or {})
        self.config.setdefault("image_size", self.image_shape[0])
        self.config.setdefault("channels", self.image_shape[2])
        self.config.setdefault("z_dim", self.z_dim)
        self.sha256 = sha256
        self.source = source
        self._encode_fn = None
        self._decode_fn = None

    @property
    def has_encoder(self) -> bool:
        """False for a decoder alone (latents imported from elsewhere): decoding works, encoding does not."""
        return self.encoder is not None

    @property
    def image_size(self) -> int:
        return self.image_shape[0]

    @property
    def channels(self) -> int:
        return self.image_shape[2]

    def __repr__(self) -> str:
        return f"<Autoencoder {self.image_shape} → z {self.z_dim} ({self.source})>"

    def _fn(self, which: str):
        import tensorflow as tf

        if which == "encode":
            if self._encode_fn is None:
                enc = self.encoder

                @tf.function(reduce_retracing=True)
                def encode_fn(x):
                    if x.dtype == tf.uint8:
                        x = tf.cast(x, tf.float32) * (1.0 / 255.0)
                    return enc(x, training=False)

                self._encode_fn = encode_fn
            return self._encode_fn
        if self._decode_fn is None:
            dec = self.decoder

            @tf.function(reduce_retracing=True)
            def decode_fn(z):
                return dec(z, training=False)

            self._decode_fn = decode_fn
        return self._decode_fn

    def encode_batch(self, images: np.ndarray) -> np.ndarray:
        """One batch: uint8 (0–255) or float (0–1) NHWC images → float32 (N, z_dim)."""
        if self.encoder is None:
            raise ModelError(f"{self.source}: no encoder (only a decoder was given); encoding needs --encoder or --model")
        return np.asarray(self._fn("encode")(images), dtype=np.float32)

    def encode(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Images (N, H, W, C), uint8 0–255 or float 0–1 → z (N, z_dim) float32."""
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[..., None]
        if tuple(images.shape[1:]) != self.image_shape:
            raise ModelError(f"images of shape {images.shape[1:]} do not fit the encoder input {self.image_shape}")
        if images.dtype != np.uint8:
            images = images.astype(np.float32)
        out = [self.encode_batch(images[s : s + batch_size]) for s in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.empty((0, self.z_dim), np.float32)

    def decode(self, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """z (N, z_dim) → images float32 (N, H, W, C) in [0, 1]."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ModelError(f"z of shape {z.shape} does not fit the decoder input (N, {self.z_dim})")
        fn = self._fn("decode")
        out = [np.asarray(fn(z[s : s + batch_size]), np.float32) for s in range(0, len(z), batch_size)]
        return np.concatenate(out) if out else np.empty((0, *self.image_shape), np.float32)


def load_autoencoder(
    model_dir: str | os.PathLike | None = None,
    *,
    encoder: str | os.PathLike | None = None,
    decoder: str | os.PathLike | None = None,
) -> Autoencoder:
    """Load a model directory, or an encoder/decoder pair of ``.keras`` files.

    Parameters
    ----------
    model_dir : path-like, optional
        Directory written by ``latentlab train`` (``encoder.keras``,
        ``decoder.keras``, ``config.json``).
    encoder, decoder : path-like, optional
        Bring-your-own models trained elsewhere; used when ``model_dir`` is
        not given. Their shapes are checked against each other. A decoder
        alone is enough to decode (for latents imported with
        ``latentlab import``); encoding then raises :class:`ModelError`.

    Raises
    ------
    ModelError
        Missing directory or file, unreadable model, or mismatched shapes.

    Examples
    --------
    A model directory of ``latentlab train`` is loaded with ``load_autoencoder("runs/celeba96")``; a pair of
    Keras models trained elsewhere (here two tiny untrained ones on 8×8 grey images) with:

    >>> import pathlib, tempfile, keras
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)]).save(d / "enc.keras")
    >>> keras.Sequential([keras.Input((3,)), keras.layers.Dense(64, activation="sigmoid"),
    ...                   keras.layers.Reshape((8, 8, 1))]).save(d / "dec.keras")
    >>> ae = load_autoencoder(encoder=d / "enc.keras", decoder=d / "dec.keras")
    >>> ae.z_dim, ae.image_size, ae.channels
    (3, 8, 1)
    >>> z = ae.encode(np.zeros((5, 8, 8, 1), np.uint8))
    >>> faces = ae.decode(z)
    >>> z.shape, faces.shape, bool(((faces >= 0) & (faces <= 1)).all())
    ((5, 3), (5, 8, 8, 1), True)
    """
    if model_dir is not None:
        if encoder is not None or decoder is not None:
            raise ModelError("give either --model or --encoder/--decoder, not both")
        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise ModelError(f"{model_dir}: no such model directory")
        for name in (ENCODER_FILE, DECODER_FILE, CONFIG_FILE):
            if not (model_dir / name).is_file():
                raise ModelError(f"{model_dir}: model directory has no {name}")
        config = read_config(model_dir)
        enc_path, dec_path = model_dir / ENCODER_FILE, model_dir / DECODER_FILE
        cfg = config.to_dict()
        source = str(model_dir)
    else:
        if decoder is None:
            raise ModelError("a model is needed: give --model MODEL_DIR, --decoder FILE.keras, or --encoder and --decoder")
        enc_path, dec_path = (Path(encoder) if encoder is not None else None), Path(decoder)
        cfg, source = {"byo": True}, f"{enc_path} + {dec_path}" if enc_path is not None else str(dec_path)
    enc = _load_keras(enc_path) if enc_path is not None else None
    dec = _load_keras(dec_path)
    ae = Autoencoder(enc, dec, config=cfg, sha256=file_sha256(enc_path) if enc_path is not None else "", source=source)
    if model_dir is not None and (ae.z_dim != config.z_dim or ae.image_size != config.image_size):
        raise ModelError(f"{model_dir}: {CONFIG_FILE} does not match the saved models (z_dim {config.z_dim} vs {ae.z_dim})")
    return ae


__all__ = ["Autoencoder", "ModelConfig", "file_sha256", "load_autoencoder"]
