"""Attribute directions: where each labelled attribute points in z, and how linearly it is encoded.

For every ±1 attribute of the store (CelebA's 40, Fashion-MNIST's 10 one-hot
classes, any CSV; ``0`` = unknown, left out):

* the **mean-difference direction** ``d = μ₊ − μ₋`` (mean of the rows with the
  attribute minus mean of the rows without it), from one streamed pass that
  folds per-attribute sums into ``(A, z_dim)`` accumulators — no copy of ``/z``
  beyond one block;
* a **linear probe**: scikit-learn's ``LogisticRegression`` fitted on a seeded
  subsample of the selected rows (``probe_rows``, default 20,000 rows: the only
  rows held in memory, gathered in the same pass), its unit normal, and its
  AUC on a held-out quarter of that subsample with a bootstrap interval;
* the direction's **length in units of the cloud's spread along it**
  ``‖d‖ / sqrt(d̂ᵀ Σ d̂)`` (Σ the covariance of all selected rows);
* **cosines** between all attribute directions (what the latent space
  entangles) and with the first principal axes (the one PCA core,
  :class:`~latentlab.analysis.LatentPCA`, fitted on the same pass's moments).

``latentlab directions Z.h5 --out DIR`` writes ``directions.json`` and
``directions.npz`` (``names``, ``directions`` [A × z_dim], ``probe_normals``,
``mean``, ``n_positive``, ``n_negative``); :func:`attribute_direction` gives one
direction for ``latentlab edit`` and ``path --attribute``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import LatentlabError
from ._contract import Analysis, AnalysisResult, Option, Table
from ._streaming import Moments, RowSample, open_passes

__all__ = ["DirectionsResult", "attribute_direction", "directions", "parse_attribute_names", "rank_auc"]

#: Fewest labelled rows on each side for a direction (and, in the probe's held-out part, for an AUC).
MIN_ROWS_PER_SIDE = 5


class AttributeSums:
    """Per-attribute sums of ``block - shift`` over the rows with (``+1``) and without (``-1``) each attribute.

    ``labels`` is the ``(n_rows, A)`` attribute matrix of the whole store (small:
    int8), indexed by each block's global row indices; a pass never keeps rows.
    """

    def __init__(self, labels: np.ndarray, shift: np.ndarray):
        self.labels = labels
        self.shift = np.asarray(shift, dtype=np.float64)
        a, d = labels.shape[1], self.shift.shape[0]
        self.pos_sum, self.neg_sum = np.zeros((a, d)), np.zeros((a, d))
        self.n_pos, self.n_neg = np.zeros(a, np.int64), np.zeros(a, np.int64)

    def empty(self) -> AttributeSums:
        return AttributeSums(self.labels, self.shift)

    def update(self, block: np.ndarray, index: np.ndarray) -> None:
        if not len(block):
            return
        c = np.subtract(block, self.shift, dtype=np.float64)
        lab = self.labels[np.asarray(index)]
        pos, neg = (lab > 0).astype(np.float64), (lab < 0).astype(np.float64)
        self.pos_sum += pos.T @ c
        self.neg_sum += neg.T @ c
        self.n_pos += pos.sum(axis=0).astype(np.int64)
        self.n_neg += neg.sum(axis=0).astype(np.int64)

    def merge(self, other: AttributeSums) -> AttributeSums:
        out = self.empty()
        out.pos_sum, out.neg_sum = self.pos_sum + other.pos_sum, self.neg_sum + other.neg_sum
        out.n_pos, out.n_neg = self.n_pos + other.n_pos, self.n_neg + other.n_neg
        return out


def parse_attribute_names(value) -> list[str] | None:
    """``"A,B"`` or ``["A", "B"]`` (or ``None``) → a list of names (``None`` = every attribute)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else [p for v in value for p in str(v).split(",")]
    names = [s.strip() for s in items if s.strip()]
    return names or None


def _columns(store, wanted) -> list[int]:
    names = list(getattr(store, "attribute_names", []) or [])
    if wanted is None:
        return list(range(len(names)))
    missing = [w for w in wanted if w not in names]
    if missing:
        known = ", ".join(names[:12]) + (" …" if len(names) > 12 else "") if names else "none (the store has no /attributes)"
        raise LatentlabError(f"attributes: unknown attribute(s) {', '.join(missing)}; known: {known}")
    return [names.index(w) for w in wanted]


def rank_auc(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """AUC as the Mann–Whitney U statistic (ties count one half), along the last axis.

    Vectorised over bootstrap resamples (rows of ``y`` and ``score``); equals
    scikit-learn's ``roc_auc_score`` for one row, without its per-call validation.

    Examples
    --------
    >>> float(rank_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])))
    0.75
    """
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=bool)
    ranks = rankdata(score, axis=-1)
    n1 = y.sum(axis=-1)
    n0 = y.shape[-1] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((ranks * y).sum(axis=-1) - n1 * (n1 + 1) / 2) / (n1 * n0)


def _bootstrap_auc(y: np.ndarray, score: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """95 % percentile interval of the AUC over ``n_boot`` resamples of the held-out rows."""
    if n_boot < 1:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, n_boot, 50):  # 50 resamples at a time bound the memory
        pick = rng.integers(0, len(y), (min(50, n_boot - start), len(y)))
        values.append(rank_auc(y[pick], score[pick]))
    values = np.concatenate(values)
    values = values[np.isfinite(values)]  # a resample with one class has no AUC
    if not len(values):
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _probe(x, y, std, *, seed, n_boot, max_iter):
    """Logistic-regression probe on standardised z ``x``: unit normal in z units, held-out AUC and its interval."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    nan = float("nan")
    empty = (None, nan, nan, nan, 0)
    if min((y == 1).sum(), (y == 0).sum()) < 4 * MIN_ROWS_PER_SIDE:
        return empty
    fit_idx, held_idx = train_test_split(np.arange(len(y)), test_size=0.25, stratify=y, random_state=seed)
    clf = LogisticRegression(C=1.0, max_iter=max_iter)
    clf.fit(x[fit_idx], y[fit_idx])
    # the probe's logit is w·x = (w / std)·(z − mean): its normal in z
    normal = clf.coef_[0] / std
    norm = np.linalg.norm(normal)
    normal = normal / norm if norm > 0 else normal
    score = clf.decision_function(x[held_idx])
    auc = float(rank_auc(y[held_idx], score))
    low, high = _bootstrap_auc(y[held_idx], score, n_boot, seed)
    return normal, auc, low, high, int(len(held_idx))


@dataclass
class DirectionsResult(AnalysisResult):
    """Attribute directions of a z-store (see :func:`directions`).

    Attributes
    ----------
    names : list of str
    directions : ndarray (A, z_dim)
        ``μ₊ − μ₋`` per attribute (NaN rows where a side has too few rows).
    probe_normals : ndarray (A, z_dim)
        Unit normals of the logistic-regression probes (NaN rows where no probe was fitted).
    n_positive, n_negative : ndarray (A,)
    length : ndarray (A,)
        ``‖d‖``.
    length_in_sd : ndarray (A,)
        ``‖d‖`` over the cloud's standard deviation along ``d̂``.
    auc, auc_low, auc_high : ndarray (A,)
        The probe's held-out AUC and its bootstrap 95 % interval.
    probe_cosine : ndarray (A,)
        Cosine between ``d`` and the probe's normal.
    cosines : ndarray (A, A)
        Cosines between the attribute directions.
    pc_cosines : ndarray (A, n_axes)
        Cosines (signed) between each direction and the first principal axes.
    mean : ndarray (z_dim,)
    pcs : ndarray (2, z_dim)
        The first two principal axes (for the PC1–PC2 figure).
    pc_scores : ndarray (m, 2)
        The probe's subsample projected on them (centred on ``mean``).
    """

    names: list
    directions: np.ndarray
    probe_normals: np.ndarray
    n_positive: np.ndarray
    n_negative: np.ndarray
    length: np.ndarray
    length_in_sd: np.ndarray
    auc: np.ndarray
    auc_low: np.ndarray
    auc_high: np.ndarray
    n_heldout: np.ndarray
    probe_cosine: np.ndarray
    cosines: np.ndarray
    pc_cosines: np.ndarray
    mean: np.ndarray
    pcs: np.ndarray
    pc_scores: np.ndarray
    settings: dict = field(default_factory=dict)

    name = "directions"

    def to_dict(self) -> dict:
        per = []
        for a, nm in enumerate(self.names):
            per.append({
                "name": nm, "n_positive": int(self.n_positive[a]), "n_negative": int(self.n_negative[a]),
                "length": self.length[a], "length_in_sd": self.length_in_sd[a],
                "probe_auc": self.auc[a], "probe_auc_low": self.auc_low[a], "probe_auc_high": self.auc_high[a],
                "probe_heldout_rows": int(self.n_heldout[a]), "probe_cosine": self.probe_cosine[a],
                "pc_cosines": self.pc_cosines[a],
            })
        finite = self.auc[np.isfinite(self.auc)]
        return {**self.settings, "attributes": per, "cosines": self.cosines,
                "median_probe_auc": float(np.median(finite)) if len(finite) else None}

    def _save_files(self, out: Path) -> list[Path]:
        from .._io import atomic_path

        target = out / "directions.npz"
        with atomic_path(target) as tmp:
            np.savez(tmp, names=np.array(self.names, dtype=np.str_), directions=self.directions,
                     probe_normals=self.probe_normals, mean=self.mean, n_positive=self.n_positive,
                     n_negative=self.n_negative)
        return [target]

    def direction(self, name: str, method: str = "mean") -> np.ndarray:
        """The edit vector of ``name``: ``μ₊ − μ₋`` (``mean``), or the probe's normal scaled so that
        ``s = 1`` moves the negatives' mean onto the positives' mean along it (``probe``)."""
        if name not in self.names:
            raise LatentlabError(f"--attribute: unknown attribute {name!r}; known: {', '.join(self.names)}")
        a = self.names.index(name)
        d = self.directions[a]
        if not np.isfinite(d).all():
            raise LatentlabError(f"--attribute {name}: too few rows with or without it for a direction")
        if method == "mean":
            return d.copy()
        if method == "probe":
            normal = self.probe_normals[a]
            if not np.isfinite(normal).all():
                raise LatentlabError(f"--attribute {name}: too few labelled rows for a probe (use --method mean)")
            return normal * float(normal @ d)
        raise LatentlabError(f"--method: expected mean or probe, got {method!r}")

    def figures(self):
        if not self.names:
            return
        from ..plots import plot_attribute_plane, plot_cosine_matrix, plot_probe_auc

        if np.isfinite(self.auc).any():
            yield ("directions_auc.png", "Held-out AUC of each attribute's logistic-regression probe, with bootstrap "
                   "95 % intervals (0.5 = not linearly readable, 1 = perfectly).",
                   plot_probe_auc(self.names, self.auc, self.auc_low, self.auc_high))
        if len(self.names) > 1:
            yield ("directions_cosines.png", "Cosines between the attribute directions μ₊ − μ₋: large |cos| = the latent "
                   "space moves the two attributes together.", plot_cosine_matrix(self.names, self.cosines))
        yield ("directions_pc_plane.png", "Attribute directions (arrows, from the data mean) projected on the PC1–PC2 "
               "plane over a data subsample.", plot_attribute_plane(self.names, self.directions @ self.pcs.T,
                                                                   self.pc_scores))

    def summary(self) -> list:
        if not self.names:
            return [self.settings.get("note", "The store has no attributes.")]
        text = (f"{len(self.names)} attribute directions d = μ₊ − μ₋ over {self.settings['n_rows']:,} rows; "
                f"logistic-regression probes on a seeded subsample of {self.settings['probe_rows']:,} rows "
                f"(a quarter held out for the AUC, {self.settings['n_boot']} bootstrap resamples). "
                f"Length in σ = ‖d‖ over the cloud's standard deviation along d.")
        rows = [[nm, int(self.n_positive[a]), self.length_in_sd[a], self.auc[a],
                 f"{self.auc_low[a]:.3f}–{self.auc_high[a]:.3f}", self.probe_cosine[a],
                 self._pc_note(a)] for a, nm in enumerate(self.names)]
        blocks = [text, Table(["attribute", "positives", "length in σ", "probe AUC", "95 % interval",
                               "cos(d, probe)", "closest PC"], rows)]
        pairs = self._entangled(5)
        if pairs:
            blocks.append("Most aligned attribute pairs: " + "; ".join(f"{a} / {b} (cos {c:+.2f})" for a, b, c in pairs) + ".")
        return blocks

    def _pc_note(self, a: int) -> str:
        if not np.isfinite(self.pc_cosines[a]).all() or not self.pc_cosines.shape[1]:
            return "-"
        k = int(np.argmax(np.abs(self.pc_cosines[a])))
        return f"PC{k + 1} ({self.pc_cosines[a, k]:+.2f})"

    def _entangled(self, top: int) -> list:
        a = len(self.names)
        out = [(self.names[i], self.names[j], float(self.cosines[i, j])) for i in range(a) for j in range(i + 1, a)
               if np.isfinite(self.cosines[i, j])]
        return sorted(out, key=lambda t: -abs(t[2]))[:top]

    def lines(self) -> list[str]:
        if not self.names:
            return [self.settings.get("note", "the store has no attributes")]
        out = [f"{len(self.names)} attribute directions over {self.settings['n_rows']:,} rows "
               f"(probe on {self.settings['probe_rows']:,} rows)",
               f"{'attribute':<22}{'pos':>8}{'len σ':>8}{'AUC':>7}{'95 %':>15}{'cos probe':>10}"]
        for a, nm in enumerate(self.names):
            out.append(f"{nm[:21]:<22}{int(self.n_positive[a]):>8}{self.length_in_sd[a]:>8.3f}{self.auc[a]:>7.3f}"
                       f"{self.auc_low[a]:>7.3f}–{self.auc_high[a]:<7.3f}{self.probe_cosine[a]:>10.3f}")
        d = self.to_dict()["median_probe_auc"]
        if d is not None:
            out.append(f"median probe AUC {d:.3f}")
        return out


def directions(
    data,
    partition: str | None = None,
    chunk_rows: int | None = None,
    engine: str = "numpy",
    scheduler=None,
    *,
    attributes=None,
    probe: bool = True,
    probe_rows: int = 20_000,
    n_boot: int = 200,
    n_axes: int = 10,
    max_iter: int = 1000,
    seed: int = 0,
) -> DirectionsResult:
    """Mean-difference directions, linear probes and their geometry for the store's attributes.

    Parameters
    ----------
    data : path-like, ZStore or row source
        Needs ``/attributes`` (±1, 0 = unknown); without them the result is empty.
    partition, chunk_rows, engine, scheduler
        As every streamed analysis.
    attributes : str or list of str, optional
        Attribute names (``"Smiling,Male"``); default all.
    probe : bool, default True
        Fit the logistic-regression probes.
    probe_rows : int, default 20,000
        Seeded subsample for the probes (the only rows held in memory); 75 % fit, 25 % held out.
    n_boot : int, default 200
        Bootstrap resamples of the held-out rows for the AUC interval.
    n_axes : int, default 10
        Principal axes the directions are compared with.
    max_iter : int, default 1000
        ``LogisticRegression`` iterations.
    seed : int, default 0

    Returns
    -------
    DirectionsResult

    Examples
    --------
    >>> from latentlab.store._rows import ArrayStore
    >>> rng = np.random.default_rng(0)
    >>> y = np.where(rng.random(2_000) < 0.5, 1, -1)
    >>> z = rng.normal(size=(2_000, 4)); z[:, 0] += 2.0 * (y > 0)
    >>> src = ArrayStore(z); src.attributes = y[:, None].astype(np.int8); src.attribute_names = ["A"]
    >>> res = directions(src, n_boot=20)
    >>> np.round(res.directions[0], 1).tolist()[0], bool(res.auc[0] > 0.8)
    (2.0, True)
    """
    from .._checks import check_int
    from ._pca import LatentPCA

    wanted = parse_attribute_names(attributes)
    probe_rows = check_int(probe_rows, "probe_rows", minimum=10, maximum=10_000_000)
    n_boot = check_int(n_boot, "n_boot", minimum=0, maximum=100_000)
    n_axes = check_int(n_axes, "n_axes", minimum=1, maximum=65_536)
    max_iter = check_int(max_iter, "max_iter", minimum=1, maximum=1_000_000)
    seed = check_int(seed, "seed", minimum=0, maximum=2**32 - 1)
    with open_passes(data, partition, chunk_rows, engine, scheduler) as passes:
        store = passes.store
        cols = _columns(store, wanted)
        label = str(getattr(store, "path", "<array>"))
        settings = {"store": label, "partition": partition, "n_rows": int(passes.n), "probe_rows": 0,
                    "n_boot": n_boot, "seed": seed}
        if passes.n < 2:
            raise LatentlabError(f"{passes.label}: directions need at least 2 rows, found {passes.n}")
        if not cols or getattr(store, "attributes", None) is None:
            settings["note"] = "The store has no attributes (/attributes): no directions."
            d = passes.z_dim
            e = np.empty((0,))
            return DirectionsResult([], np.empty((0, d)), np.empty((0, d)), e.astype(int), e.astype(int), e, e, e, e, e,
                                    e.astype(int), e, np.empty((0, 0)), np.empty((0, n_axes)), np.zeros(d),
                                    np.zeros((2, d)), np.empty((0, 2)), settings)
        names = [store.attribute_names[c] for c in cols]
        # the attribute columns of every row (int8: 200k rows × 40 attributes is 8 MB), read once
        labels = np.asarray(store.attributes[:], dtype=np.int8)[:, cols]
        accs = {"sums": AttributeSums(labels, passes.shift), "moments": Moments(passes.shift, cross=True)}
        if probe:
            accs["rows"] = RowSample(passes.sample_index(probe_rows, seed))
        got = passes.run(accs)
        z_dim = passes.z_dim
    sums, mom = got["sums"], got["moments"]
    pca = LatentPCA()._refit(mom)  # the one PCA core, on this pass's moments (exact, svd_flip signs)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu_pos = sums.pos_sum / sums.n_pos[:, None]
        mu_neg = sums.neg_sum / sums.n_neg[:, None]
    enough = (sums.n_pos >= MIN_ROWS_PER_SIDE) & (sums.n_neg >= MIN_ROWS_PER_SIDE)
    dirs = np.where(enough[:, None], mu_pos - mu_neg, np.nan)  # the shift cancels in the difference
    cov = mom.cov(ddof=1)
    length = np.linalg.norm(dirs, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = dirs / length[:, None]
        spread = np.sqrt(np.einsum("ad,de,ae->a", unit, cov, unit))
        length_in_sd = length / spread
        cosines = unit @ unit.T
    k = min(n_axes, pca.components_.shape[0])
    pc_cosines = unit @ pca.components_[:k].T

    a_count = len(names)
    nan = np.full(a_count, np.nan)
    normals = np.full((a_count, z_dim), np.nan)
    auc, low, high, held = nan.copy(), nan.copy(), nan.copy(), np.zeros(a_count, np.int64)
    pc_scores = np.empty((0, 2))
    pcs = pca.components_[:2] if pca.components_.shape[0] >= 2 else np.vstack([pca.components_[:1], np.zeros((1, z_dim))])
    if probe:
        idx, rows = got["rows"].result(z_dim)
        settings["probe_rows"] = int(len(idx))
        std = mom.std(ddof=0)
        std = np.where(std > 0, std, 1.0)
        sub = labels[idx]
        x = (rows - mom.mean) / std  # standardised once: lbfgs converges in far fewer steps than on raw z
        for a in range(a_count):
            known = sub[:, a] != 0
            y = (sub[known, a] > 0).astype(int)
            normal, auc[a], low[a], high[a], held[a] = _probe(x if known.all() else x[known], y, std, seed=seed,
                                                                n_boot=n_boot, max_iter=max_iter)
            if normal is not None:
                normals[a] = normal
        pc_scores = (rows[:2_000] - mom.mean) @ pcs.T
    with np.errstate(invalid="ignore"):
        probe_cosine = np.einsum("ad,ad->a", unit, normals)
    settings["method"] = "d = mean(+1 rows) - mean(-1 rows); rows with 0 (unknown) left out"
    return DirectionsResult(names, dirs, normals, sums.n_pos, sums.n_neg, length, length_in_sd, auc, low, high, held,
                            probe_cosine, cosines, pc_cosines, mom.mean, pcs, pc_scores, settings)


def attribute_direction(store, name: str, *, method: str = "mean", partition: str | None = None,
                        probe_rows: int = 20_000, seed: int = 0) -> np.ndarray:
    """The edit vector of one attribute (see :meth:`DirectionsResult.direction`): ``s = 1`` carries the
    negatives' mean onto the positives' mean.

    Examples
    --------
    >>> from latentlab.store._rows import ArrayStore
    >>> z = np.array([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0], [3.0, 1.0]] * 5)
    >>> src = ArrayStore(z); src.attributes = np.array([[-1], [-1], [1], [1]] * 5, np.int8)
    >>> src.attribute_names = ["right"]
    >>> attribute_direction(src, "right").tolist()
    [3.0, 0.0]
    """
    if method not in ("mean", "probe"):
        raise LatentlabError(f"--method: expected mean or probe, got {method!r}")
    res = directions(store, partition, attributes=[name], probe=method == "probe", probe_rows=probe_rows,
                     n_boot=0, seed=seed)
    return res.direction(name, method)


#: The registry entry (``latentlab directions``, the report's "Attribute directions" section).
DIRECTIONS = Analysis(
    name="directions",
    title="Attribute directions",
    help="Attribute directions μ₊ − μ₋, logistic-regression probes (held-out AUC), their cosines and PCs "
         "→ directions.json, directions.npz.",
    run=directions,
    options=(
        Option("attributes", None, "Comma-separated attribute names (default: all).", str, metavar="A,B"),
        Option("probe", True, "Fit the logistic-regression probes (AUC, probe normals)."),
        Option("probe_rows", 20_000, "Seeded subsample for the probes (the only rows held in memory).", quick=5_000),
        Option("n_boot", 200, "Bootstrap resamples for the AUC interval.", quick=50),
        Option("n_axes", 10, "Principal axes the directions are compared with."),
        Option("seed", 0, "Seed of the probe subsample and its split."),
    ),
    out_suffix="_directions",
)
