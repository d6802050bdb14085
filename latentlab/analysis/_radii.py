"""Radii of the z-cloud compared with simple generators.

``‖z‖`` (distance from the origin) and ``‖z - mean‖`` (from the data
centre) are histogrammed over all rows (pass 1: mean, covariance and the
range of ``‖z‖``; pass 2: fine histograms with fixed edges). The same
statistics are given for generators fitted or parameterised to the data:

* ``cube``: uniform in ``[-b, b]^d``; ``b`` given, or fitted so that the cube's
  median radius equals the data's median ``‖z‖``. Analytic curve from the
  central limit theorem on ``r² = Σ x_i²`` (``E r² = d b²/3``,
  ``Var r² = 4 d b⁴/45``), so ``r ≈ b·sqrt(d/3)`` with spread ``≈ b/sqrt(15)``.
* ``ball``: uniform in a d-ball of radius ``R`` fitted to the median
  (``P(r ≤ t) = (t/R)^d``).
* ``normal``: N(0, I): ``r`` follows the chi distribution with d degrees of freedom.
* ``mnd``: N(mean, Σ) with the data's mean and covariance (Monte Carlo, seeded).

``cube``, ``ball`` and ``normal`` are centred on the origin, so their
radius about their own centre is the same statistic as ``‖z‖``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import LatentlabError
from .._io import jsonable
from ._contract import Analysis, AnalysisResult, Option, Table
from ._streaming import Histograms, Moments, Norm, open_passes

__all__ = ["RadiiResult", "cube_radius_moments", "radii"]

_FINE_BINS = 4096
_PLOT_BINS = 60


def cube_radius_moments(b: float, d: int) -> tuple[float, float]:
    """Approximate mean and standard deviation of ``‖x‖`` for x uniform in ``[-b, b]^d``.

    ``E r² = d b²/3`` and ``Var r² = 4 d b⁴/45`` exactly; the delta method gives
    ``r ≈ b·sqrt(d/3)`` (to second order minus ``Var r² / (8 (E r²)^1.5)``,
    i.e. ``≈ 0.0577·b/sqrt(d)``) and ``sd(r) ≈ b/sqrt(15)`` (independent of d).
    """
    mu2, var2 = d * b * b / 3.0, 4.0 * d * b**4 / 45.0
    return float(np.sqrt(mu2) - var2 / (8.0 * mu2**1.5)), float(b / np.sqrt(15.0))


def _cube_cdf(t, b, d):
    from scipy import stats as st

    mu2, sd2 = d * b * b / 3.0, np.sqrt(4.0 * d / 45.0) * b * b
    return st.norm.cdf((np.asarray(t, float) ** 2 - mu2) / sd2)


def _cube_pdf(t, b, d):
    from scipy import stats as st

    t = np.asarray(t, float)
    mu2, sd2 = d * b * b / 3.0, np.sqrt(4.0 * d / 45.0) * b * b
    return 2 * t * st.norm.pdf((t**2 - mu2) / sd2) / sd2


def _mc_cube_radii(d: int, n: int, rng) -> np.ndarray:
    out = np.empty(n)
    step = max(1, 2_000_000 // max(d, 1))
    for s in range(0, n, step):
        e = min(n, s + step)
        x = rng.uniform(-1.0, 1.0, size=(e - s, d))
        out[s:e] = np.sqrt(np.einsum("ij,ij->i", x, x))
    return out


@dataclass
class RadiiResult(AnalysisResult):
    """Radii of the data and of generators.

    Attributes
    ----------
    n_points, z_dim : int
    mean_norm : float
        ``‖mean‖``.
    data : dict
        For ``"r"`` (‖z‖) and ``"rc"`` (‖z − mean‖): ``mean``, ``std``,
        ``min``, ``max``, ``median``, ``q01``, ``q99``, and ``hist_edges`` /
        ``hist_counts`` (plot resolution).
    generators : dict
        name → ``params``, ``label``, and for ``"r"`` / ``"rc"``: ``mean``,
        ``std``, ``median``, ``ks`` (largest gap between the data's and the
        generator's radius CDF), and either ``curve_x`` / ``curve_pdf``
        (analytic) or ``hist_edges`` / ``hist_density`` (Monte Carlo).
    """

    n_points: int
    z_dim: int
    mean_norm: float
    data: dict
    generators: dict
    cube_b_fitted: bool = True
    partition: str | None = None
    store: str = ""

    name = "radii"

    def to_dict(self) -> dict:
        return jsonable(
            {
                "store": self.store,
                "partition": self.partition,
                "n_points": self.n_points,
                "z_dim": self.z_dim,
                "mean_norm": self.mean_norm,
                "cube_b_fitted": self.cube_b_fitted,
                "data": self.data,
                "generators": self.generators,
            }
        )

    def table(self) -> Table:
        """Data and generators: mean, std and median of ‖z‖ and the KS gaps."""
        r = self.data["r"]
        rows = [["data", r["mean"], r["std"], r["median"], "", ""]]
        for g in self.generators.values():
            rows.append([g["label"], g["r"]["mean"], g["r"]["std"], g["r"]["median"], g["r"]["ks"], g["rc"]["ks"]])
        return Table(["", "mean ‖z‖", "std", "median", "KS gap ‖z‖", "KS gap ‖z − mean‖"], rows)

    def figures(self):
        from .. import plots

        yield ("radii_origin.png",
               "Distribution of ‖z‖ for the data (bars) and for cube, ball, N(0, I) and N(mean, Σ) generators (lines).",
               plots.plot_radii(self, "r"))
        yield ("radii_centre.png",
               "Distribution of the distance from the data centre ‖z − mean‖ against the same generators about their own centres.",
               plots.plot_radii(self, "rc"))

    def summary(self) -> list:
        text = (
            f"Distance of the data centre from the origin: {self.mean_norm:.3g}. The KS gap is the largest difference "
            "between the data's and a generator's radius distribution (0 = identical, 1 = disjoint)."
        )
        return [text, self.table()]

    def lines(self) -> list[str]:
        out = [
            f"radii of {Path(self.store).name}: {self.n_points} points, z_dim {self.z_dim}, |mean| {self.mean_norm:.4g}",
            f"{'':<44} {'mean':>9} {'std':>9} {'KS |z|':>7} {'KS |z-m|':>8}",
        ]
        for r in self.table().rows:
            ks = (f"{r[4]:>7.3f} {r[5]:>8.3f}") if r[4] != "" else ""
            out.append(f"{str(r[0])[:44]:<44} {r[1]:>9.4g} {r[2]:>9.4g} {ks}")
        return out


def _hist_summary(h: Histograms) -> dict:
    """Statistics of one column of a fine histogram (quantiles by linear interpolation)."""
    edges, counts, n = h.edges[0], h.counts[0], h.n
    cdf = np.concatenate([[0.0], np.cumsum(counts) / n])

    def q(p):
        return float(np.interp(p, cdf, edges))

    mean = h.s1[0] / n
    std = float(np.sqrt(max(h.s2[0] / n - mean**2, 0.0)))
    lo, hi = float(h.min[0]), float(h.max[0])
    # plot resolution: merge fine bins over the occupied range into ~_PLOT_BINS bins
    first = max(int(np.searchsorted(edges, lo, side="right")) - 1, 0)
    last = min(int(np.searchsorted(edges, hi, side="left")), len(counts))
    span = max(last - first, 1)
    k = max(1, int(np.ceil(span / _PLOT_BINS)))
    stop = min(first + k * int(np.ceil(span / k)), len(counts))
    sub = counts[first:stop]
    pad = (-len(sub)) % k
    sub = np.concatenate([sub, np.zeros(pad, dtype=sub.dtype)])
    plot_counts = sub.reshape(-1, k).sum(axis=1)
    width = edges[1] - edges[0]
    plot_edges = edges[first] + width * k * np.arange(len(plot_counts) + 1)
    return {
        "mean": float(mean), "std": std, "min": lo, "max": hi,
        "median": q(0.5), "q01": q(0.01), "q99": q(0.99),
        "hist_edges": plot_edges, "hist_counts": plot_counts,
        "_cdf_edges": edges, "_cdf": cdf,
    }


def radii(
    store_or_path,
    partition: str | None = None,
    chunk_rows: int | None = None,
    engine: str = "numpy",
    *,
    scheduler=None,
    cube_b: float | None = None,
    n_mc: int = 5_000,
    seed: int = 0,
) -> RadiiResult:
    """Histograms of ``‖z‖`` and ``‖z − mean‖`` against cube, ball, N(0, I) and N(mean, Σ).

    Parameters
    ----------
    store_or_path : path-like, ZStore or ndarray
    partition, chunk_rows, engine, scheduler
        As :func:`component_stats`.
    cube_b : float, optional
        Half-width of the uniform cube; fitted to the median radius when omitted.
    n_mc : int
        Monte-Carlo samples per generator histogram (seeded).
    seed : int

    Returns
    -------
    RadiiResult

    Examples
    --------
    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(2_000, 8))
    >>> res = radii(z, n_mc=1_000)
    >>> res.generators["normal"]["r"]["ks"] < 0.05 < res.generators["cube"]["r"]["ks"]
    True
    """
    if cube_b is not None and not (np.isfinite(cube_b) and cube_b > 0):
        raise LatentlabError(f"cube_b: expected a positive number, got {cube_b!r}")
    with open_passes(store_or_path, partition, chunk_rows, engine, scheduler) as passes:
        d = passes.z_dim
        mom, data = _data_radii(passes)
        label = passes.label
    mean, cov = mom.mean, mom.cov(ddof=0)
    fitted = cube_b is None
    if fitted:
        unit = _mc_cube_radii(d, max(int(n_mc), 1000), np.random.default_rng(seed))
        cube_b = float(data["r"]["median"] / np.median(unit))
    rng = np.random.default_rng(seed)
    gens = _analytic_generators(data, d, cube_b, fitted)
    gens["mnd"] = _mnd_generator(data, mean, cov, int(n_mc), rng)
    cube_mc = _mc_cube_radii(d, int(n_mc), rng) * cube_b
    gens["cube"]["mc_check"] = {"mean": float(cube_mc.mean()), "std": float(cube_mc.std()), "n_samples": int(n_mc)}
    for key in ("r", "rc"):
        for k in ("_cdf_edges", "_cdf"):
            data[key].pop(k)
    return RadiiResult(
        n_points=int(mom.n), z_dim=d, mean_norm=float(np.linalg.norm(mean)), data=data,
        generators=gens, cube_b_fitted=fitted, partition=partition, store=label,
    )


def _data_radii(passes) -> tuple[Moments, dict]:
    """Two passes: moments and the range of ‖z‖, then fine histograms of ‖z‖ and ‖z − mean‖."""
    p1 = passes.run({"m": Moments(passes.shift, cross=True), "r": Histograms([[0.0, np.inf]], Norm())})
    mom, r1 = p1["m"], p1["r"]
    mean = mom.mean
    r_lo, r_hi = float(r1.min[0]), float(r1.max[0])
    if r_hi <= r_lo:
        r_lo, r_hi = max(r_lo - 0.5, 0.0), r_hi + 0.5
    dev = np.maximum(np.abs(mom.min - mean), np.abs(mom.max - mean))
    rc_hi = float(np.sqrt(np.sum(dev**2))) or 1.0
    p2 = passes.run({
        "r": Histograms([np.linspace(r_lo, r_hi, _FINE_BINS + 1)], Norm()),
        "rc": Histograms([np.linspace(0.0, rc_hi, _FINE_BINS + 1)], Norm(mean)),
    })
    return mom, {"r": _hist_summary(p2["r"]), "rc": _hist_summary(p2["rc"])}


def _analytic_models(d: int, cube_b: float, fitted: bool, med: float) -> dict:
    """pdf, cdf, moments and median of ‖x‖ for the cube, the ball and N(0, I)."""
    from scipy import stats as st

    ball_r = float(med / 0.5 ** (1.0 / d))
    chi = st.chi(d)
    return {
        "cube": {
            "label": f"uniform cube [-b, b]^d, b = {cube_b:.3g}" + (" (fitted)" if fitted else ""),
            "params": {"b": cube_b, "fitted": fitted},
            "pdf": lambda t: _cube_pdf(t, cube_b, d),
            "cdf": lambda t: _cube_cdf(t, cube_b, d),
            "moments": cube_radius_moments(cube_b, d),
            "median": float(cube_b * np.sqrt(d / 3.0)),
            "x_max": cube_b * np.sqrt(d / 3.0) * 1.3,
        },
        "ball": {
            "label": f"uniform ball, R = {ball_r:.3g} (fitted)",
            "params": {"R": ball_r},
            "pdf": lambda t: np.where((t >= 0) & (t <= ball_r), d / ball_r * np.clip(np.asarray(t, float) / ball_r, 0, 1) ** (d - 1), 0.0),
            "cdf": lambda t: np.clip(np.asarray(t, float) / ball_r, 0, 1) ** d,
            "moments": (ball_r * d / (d + 1), ball_r * np.sqrt(d / ((d + 2) * (d + 1) ** 2))),
            "median": med,
            "x_max": ball_r * 1.05,
        },
        "normal": {
            "label": "N(0, I): chi distribution",
            "params": {},
            "pdf": chi.pdf,
            "cdf": chi.cdf,
            "moments": (float(chi.mean()), float(chi.std())),
            "median": float(chi.median()),
            "x_max": np.sqrt(d) * 1.3,
        },
    }


def _analytic_generators(data: dict, d: int, cube_b: float, fitted: bool) -> dict:
    """Cube, ball and N(0, I) against the data: summary, KS gap and the density curve."""
    models = _analytic_models(d, cube_b, fitted, data["r"]["median"])
    x_hi = max(data["r"]["max"], data["rc"]["max"], *(m["x_max"] for m in models.values()))
    x = np.linspace(0.0, x_hi, 400)
    gens = {}
    for name, g in models.items():
        entry = {"label": g["label"], "params": g["params"], "kind": "analytic"}
        for key in ("r", "rc"):
            edges, cdf = data[key]["_cdf_edges"], data[key]["_cdf"]
            entry[key] = {
                "mean": float(g["moments"][0]), "std": float(g["moments"][1]), "median": float(g["median"]),
                "ks": float(np.max(np.abs(cdf - g["cdf"](edges)))),
                "curve_x": x, "curve_pdf": np.asarray(g["pdf"](x), float),
            }
        gens[name] = entry
    return gens


def _mnd_generator(data: dict, mean, cov, n_mc: int, rng) -> dict:
    """N(mean, Σ) of the data by Monte Carlo: summary, KS gap and a density histogram."""
    w, v = np.linalg.eigh(cov)
    root = v * np.sqrt(np.clip(w, 0, None))
    pts = mean + rng.standard_normal((n_mc, len(mean))) @ root.T
    entry = {"label": "N(mean, Σ) of the data (Monte Carlo)", "params": {"mean_norm": float(np.linalg.norm(mean))},
             "kind": "monte_carlo", "n_samples": int(len(pts))}
    for key, centre in (("r", None), ("rc", mean)):
        rr = Norm(centre)(pts)
        edges, cdf = data[key]["_cdf_edges"], data[key]["_cdf"]
        srt = np.sort(rr)
        gen_cdf = np.searchsorted(srt, edges, side="right") / len(srt)
        h_edges = np.linspace(srt[0], srt[-1], 41)
        dens, _ = np.histogram(rr, bins=h_edges, density=True)
        entry[key] = {
            "mean": float(rr.mean()), "std": float(rr.std()), "median": float(np.median(rr)),
            "ks": float(np.max(np.abs(cdf - gen_cdf))),
            "hist_edges": h_edges, "hist_density": dens,
        }
    return entry


#: The registry entry (``latentlab radii``, the report's "Radii" section).
RADII = Analysis(
    name="radii",
    title="Radii",
    help="Histograms of ‖z‖ and ‖z − mean‖ against cube, ball, N(0, I), N(mean, Σ) → radii.json + figures.",
    run=radii,
    options=(
        Option("cube_b", None, "Half-width b of the uniform cube generator (default: fitted to the median radius).", float),
        Option("seed", 0, "Seed of the Monte-Carlo generator samples."),
        Option("n_mc", 5_000, "Monte-Carlo samples per generator histogram.", quick=2_000, cli=False),
    ),
)
