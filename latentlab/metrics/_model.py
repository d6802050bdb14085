"""Measures that need the model or a feature network: re-encoding consistency, pixel features, FID.

Nothing here imports TensorFlow at import time; :func:`inception_features`
imports Keras when called.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .._errors import LatentlabError

__all__ = [
    "ReencodingResult",
    "fid_from_features",
    "frechet_distance",
    "inception_features",
    "pixel_features",
    "reencoding_consistency",
]


@dataclass
class ReencodingResult:
    """Relative re-encoding error ‖E(D(z)) − z‖ / ‖z‖ over a set of z-points."""

    mean: float
    median: float
    p90: float
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def reencoding_consistency(z, z_reencoded) -> ReencodingResult:
    """Summarise ‖E(D(z)) − z‖ / ‖z‖ given ``z`` and ``E(D(z))``.

    Parameters
    ----------
    z, z_reencoded : array (n, z_dim)
    """
    z = np.asarray(z, dtype=np.float64)
    zr = np.asarray(z_reencoded, dtype=np.float64)
    if z.shape != zr.shape or z.ndim != 2:
        raise LatentlabError(f"re-encoding: shapes differ ({z.shape} vs {zr.shape})")
    norm = np.linalg.norm(z, axis=1)
    err = np.linalg.norm(zr - z, axis=1) / np.where(norm > 0, norm, 1.0)
    return ReencodingResult(float(err.mean()), float(np.median(err)), float(np.quantile(err, 0.9)), len(z))


def pixel_features(images, size: int = 16) -> np.ndarray:
    """Downscaled pixels as a feature vector: area-average to ``size``×``size``, flatten.

    Parameters
    ----------
    images : array (n, H, W, C) in [0, 1]
    size : int, default 16
        Output side (H and W must be multiples; otherwise the edge rows are dropped).
    """
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise LatentlabError(f"images: expected (n, H, W, C), got shape {x.shape}")
    n, h, w, c = x.shape
    size = max(1, min(size, h, w))
    fh, fw = h // size, w // size
    x = x[:, : fh * size, : fw * size].reshape(n, size, fh, size, fw, c).mean(axis=(2, 4))
    return x.reshape(n, -1).astype(np.float64)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    # tr sqrt(S1 S2) = tr sqrt(A S2 A) with A = S1^(1/2): a symmetric PSD eigenproblem
    w, v = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = a @ sigma2 @ a
    tr_covmean = float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def fid_from_features(real_features, fake_features) -> float:
    """FID from two feature matrices (Inception pool features, or any other)."""
    a = np.asarray(real_features, dtype=np.float64)
    b = np.asarray(fake_features, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise LatentlabError(f"FID: need two (n >= 2, d) feature arrays of equal d, got {a.shape} and {b.shape}")
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def inception_features(images, weights_file: str | os.PathLike, *, batch_size: int = 64) -> np.ndarray:
    """2048-d InceptionV3 pool features of images in [0, 1] (NHWC).

    The weights come from a user-supplied Keras ``InceptionV3`` weights file
    (``include_top=False``, e.g. ``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5``);
    nothing is downloaded.
    """
    path = Path(weights_file)
    if not path.is_file():
        raise LatentlabError(f"{path}: no such Inception weights file (FID needs a local InceptionV3 weights file)")
    import keras

    try:
        net = keras.applications.InceptionV3(include_top=False, weights=str(path), pooling="avg",
                                             input_shape=(299, 299, 3))
    except Exception as exc:  # wrong file, wrong architecture
        raise LatentlabError(f"{path}: cannot load InceptionV3 weights ({str(exc).splitlines()[0][:160]})") from None
    x = np.asarray(images, dtype=np.float32)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    feats = []
    for start in range(0, len(x), batch_size):
        b = keras.ops.image.resize(x[start:start + batch_size], (299, 299))
        b = keras.applications.inception_v3.preprocess_input(keras.ops.convert_to_numpy(b) * 255.0)
        feats.append(keras.ops.convert_to_numpy(net(b, training=False)))
    return np.concatenate(feats).astype(np.float64)
