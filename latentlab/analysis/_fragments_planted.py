"""Synthetic point clouds with planted fragments and filaments (known ground truth)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._errors import LatentlabError

__all__ = ["PlantedCloud", "filament_precision_recall", "make_planted_cloud"]


@dataclass
class PlantedCloud:
    """A synthetic cloud and its ground truth.

    Attributes
    ----------
    z : ndarray of shape (n, dim), float32
        The points (bulk first, then fragments, then filaments).
    fragment : ndarray of shape (n,), int32
        0 = bulk, 1..F = planted fragments, -1 = filament points (they belong
        to no Gaussian component; score them with ``filament``).
    filament : ndarray of shape (n,), int32
        -1 = in no filament, else the planted filament id (0..n_filaments-1).
    info : dict
        The generating parameters and derived scales (bulk radius, filament spacing, ...).
    """

    z: np.ndarray
    fragment: np.ndarray
    filament: np.ndarray
    info: dict = field(default_factory=dict)


def _unit(rng, dim):
    v = rng.standard_normal(dim)
    return v / np.linalg.norm(v)


def make_planted_cloud(
    n_bulk: int = 4000,
    dim: int = 64,
    *,
    n_fragments: int = 3,
    fragment_size: int = 150,
    fragment_scale: float = 0.25,
    fragment_distance: float = 1.5,
    n_filaments: int = 3,
    filament_size: int = 150,
    filament_length: float = 1.0,
    filament_bend: float = 1.0,
    filament_noise: float = 0.5,
    filament_distance: float = 1.5,
    filament_attached: bool = False,
    anisotropy: float = 4.0,
    random_state: int | None = 0,
) -> PlantedCloud:
    """A cloud with a known main fragment, smaller fragments and filaments.

    * **bulk**: an anisotropic Gaussian (axis standard deviations falling
      linearly from 1 to ``1 / anisotropy``, randomly rotated, off-centre);
      its RMS radius is ``R``;
    * **fragments**: ``n_fragments`` isotropic Gaussians of ``fragment_size``
      points, standard deviation ``fragment_scale`` × the bulk's mean axis
      standard deviation, centred ``fragment_distance · R`` from the bulk centre
      in random directions;
    * **filaments**: ``n_filaments`` circular arcs of length
      ``filament_length · R`` bent through ``filament_bend`` radians, starting
      ``filament_distance · R`` from the bulk centre, ``filament_size`` points
      spaced uniformly at random along each arc, plus isotropic noise whose RMS
      displacement (the tube radius) is ``filament_noise`` × the mean point
      spacing; with ``filament_attached`` each arc instead starts on the
      bulk's shell (``R`` from its centre) and leaves it radially, so one end
      lies among bulk points.

    Parameters
    ----------
    n_bulk, dim : int
    n_fragments, fragment_size : int
    fragment_scale, fragment_distance : float
    n_filaments, filament_size : int
    filament_length, filament_bend, filament_noise, filament_distance : float
    filament_attached : bool
    anisotropy : float
        Ratio of the bulk's largest to smallest axis standard deviation.
    random_state : int or None

    Returns
    -------
    PlantedCloud

    Examples
    --------
    >>> cloud = make_planted_cloud(n_bulk=500, dim=32, n_fragments=2, n_filaments=1)
    >>> cloud.z.shape, int(cloud.fragment.max()), int(cloud.filament.max())
    ((950, 32), 2, 0)
    """
    if dim < 2:
        raise LatentlabError(f"make_planted_cloud: dim must be >= 2, got {dim}")
    if n_bulk < 1 or min(n_fragments, n_filaments, fragment_size, filament_size) < 0:
        raise LatentlabError("make_planted_cloud: sizes must be non-negative (n_bulk >= 1)")
    rng = np.random.default_rng(random_state)
    stds = np.linspace(1.0, 1.0 / anisotropy, dim)
    rot, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    centre = 0.5 * rng.standard_normal(dim) / np.sqrt(dim) * np.sqrt(np.sum(stds**2))
    radius = float(np.sqrt(np.sum(stds**2)))
    parts = [(rng.standard_normal((n_bulk, dim)) * stds) @ rot.T + centre]
    frag = [np.zeros(n_bulk, np.int32)]
    fil = [np.full(n_bulk, -1, np.int32)]
    sigma_f = fragment_scale * float(np.mean(stds))
    for i in range(n_fragments):
        c = centre + fragment_distance * radius * _unit(rng, dim)
        parts.append(c + sigma_f * rng.standard_normal((fragment_size, dim)))
        frag.append(np.full(fragment_size, i + 1, np.int32))
        fil.append(np.full(fragment_size, -1, np.int32))
    length = filament_length * radius
    spacing = length / max(filament_size, 1)
    sigma_n = filament_noise * spacing / np.sqrt(dim)
    for i in range(n_filaments):
        u = _unit(rng, dim)
        w = _unit(rng, dim)
        w -= (w @ u) * u
        w /= np.linalg.norm(w)
        # attached: start on the bulk's shell and leave it radially (along u)
        start = centre + (radius * u if filament_attached else filament_distance * radius * _unit(rng, dim))
        t = np.sort(rng.uniform(0.0, 1.0, filament_size))
        if filament_bend > 1e-9:
            rho = length / filament_bend
            a = filament_bend * t
            curve = np.outer(rho * np.sin(a), u) + np.outer(rho * (1 - np.cos(a)), w)
        else:
            curve = np.outer(length * t, u)
        parts.append(start + curve + sigma_n * rng.standard_normal((filament_size, dim)))
        frag.append(np.full(filament_size, -1, np.int32))
        fil.append(np.full(filament_size, i, np.int32))
    info = dict(
        n_bulk=n_bulk, dim=dim, n_fragments=n_fragments, fragment_size=fragment_size,
        n_filaments=n_filaments, filament_size=filament_size, bulk_radius=radius,
        fragment_sigma=sigma_f, filament_spacing=spacing, filament_noise_sigma=float(sigma_n),
        filament_length=length, filament_tube_radius=float(sigma_n * np.sqrt(dim)),
        filament_attached=bool(filament_attached),
        random_state=random_state,
    )
    return PlantedCloud(
        z=np.concatenate(parts).astype(np.float32),
        fragment=np.concatenate(frag),
        filament=np.concatenate(fil),
        info=info,
    )


def filament_precision_recall(truth: np.ndarray, found: np.ndarray) -> list[tuple[float, float]]:
    """(precision, recall) for every planted filament, from the found chains mostly made of it.

    ``truth`` is :attr:`PlantedCloud.filament` (-1 off the filaments), ``found`` the
    filament labels an analysis returned.

    Examples
    --------
    >>> import numpy as np
    >>> filament_precision_recall(np.array([0, 0, 1, -1]), np.array([3, 3, -1, 3]))
    [(0.6666666666666666, 1.0), (0.0, 0.0)]
    """
    rows = []
    for f in range(truth.max() + 1):
        ids = [c for c in np.unique(found[found >= 0]) if np.mean(truth[found == c] == f) > 0.5]
        mine = np.isin(found, ids)
        tp = np.sum(mine & (truth == f))
        rows.append((float(tp / max(mine.sum(), 1)), float(tp / np.sum(truth == f))))
    return rows
