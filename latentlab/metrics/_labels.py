"""Label coverage of samples: does a sampler keep the data's mix of classes / attributes?

Each sample gets the **majority label of its k nearest fit points** (the
store's own k-NN classifier on z). Per sampler:

* one-hot labels (Fashion-MNIST's classes, CSV ``column=value`` columns whose
  rows carry exactly one +1): the distribution of the assigned labels and its
  total-variation distance to the fit rows' distribution,
  ``label_tv = ½ Σ_c |p_samples(c) − p_fit(c)|`` (0 = the data's mix; a sampler
  that draws only class c scores ``1 − p_fit(c)``);
* binary attributes (CelebA's 40): per attribute the share of samples whose
  neighbours vote +1, against the fit rows' rate; ``label_tv`` is the mean over
  attributes of ``|rate_samples − rate_fit|`` (the total variation of each
  Bernoulli, averaged).

The held-out real row of ``compare-samplers`` gets the same treatment: its
``label_tv`` is the floor a sampler can reach with this many samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LabelContext", "knn_vote", "label_context", "label_coverage", "label_summary", "store_label_context"]


def knn_vote(S, Zfit, fit_labels, k: int = 5, *, chunk_rows: int = 2_048) -> np.ndarray:
    """Majority ±1 vote of each sample's ``k`` nearest fit points, per label column.

    ``fit_labels`` is ``(n_fit, A)`` with ±1 (0 = unknown, no vote); returns
    ``(n_samples, A)`` votes: the mean label of the neighbours (in [−1, 1]).

    Examples
    --------
    >>> Zfit = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> knn_vote(np.array([[0.05], [5.2]]), Zfit, np.array([[1], [1], [-1], [-1]]), k=2).ravel().tolist()
    [1.0, -1.0]
    """
    from sklearn.neighbors import NearestNeighbors

    k = int(min(k, len(Zfit)))
    nn = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(np.asarray(Zfit, dtype=np.float32))
    labels = np.asarray(fit_labels, dtype=np.float32)
    out = np.empty((len(S), labels.shape[1]), dtype=np.float32)
    S = np.asarray(S, dtype=np.float32)
    for start in range(0, len(S), chunk_rows):
        idx = nn.kneighbors(S[start:start + chunk_rows], return_distance=False)
        out[start:start + chunk_rows] = labels[idx].mean(axis=1)
    return out


@dataclass
class LabelContext:
    """The fit rows' labels, their kind and reference rates, shared by every sampler."""

    names: list
    Zfit: np.ndarray
    fit_labels: np.ndarray
    one_hot: bool
    fit_rates: np.ndarray  # one-hot: class shares; binary: share of +1 among known
    k: int


def label_context(names, Zfit, fit_labels, k: int = 5, *, max_fit: int = 20_000, seed: int = 0) -> LabelContext | None:
    """Prepare label coverage for fit rows with labels; ``None`` when there are none.

    At most ``max_fit`` fit rows (seeded) vote: the vote of 20,000 neighbours'
    labels is as stable as the vote of all of them and keeps 1,000 samples × 10
    samplers a few seconds of brute-force search.
    """
    if fit_labels is None or not len(names) or len(Zfit) < 2:
        return None
    fit_labels = np.asarray(fit_labels)
    if len(Zfit) > max_fit:
        pick = np.sort(np.random.default_rng(seed).choice(len(Zfit), max_fit, replace=False))
        Zfit, fit_labels = Zfit[pick], fit_labels[pick]
    positives = (fit_labels > 0).sum(axis=1)
    one_hot = len(names) >= 2 and bool((positives == 1).all())
    if one_hot:
        rates = (fit_labels > 0).mean(axis=0)
    else:
        known = fit_labels != 0
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = (fit_labels > 0).sum(axis=0) / known.sum(axis=0)
    return LabelContext(list(names), np.asarray(Zfit), fit_labels, one_hot, rates, int(k))


def label_coverage(S, ctx: LabelContext | None) -> dict:
    """``label_tv`` and the per-label shares of samples ``S`` (empty when ``ctx`` is None).

    Returns
    -------
    dict
        ``label_tv``; ``label_shares`` (name → share of samples: assigned class for
        one-hot labels, +1 vote for binary attributes); ``label_kind``.
    """
    if ctx is None or not len(S):
        return {}
    vote = knn_vote(S, ctx.Zfit, ctx.fit_labels, ctx.k)
    if ctx.one_hot:
        assigned = np.argmax(vote, axis=1)  # the class most of the neighbours carry (ties: first class)
        shares = np.bincount(assigned, minlength=len(ctx.names)) / len(S)
        tv = 0.5 * float(np.abs(shares - ctx.fit_rates).sum())
        kind = "one-hot classes: majority class of the k nearest fit points"
    else:
        shares = (vote > 0).mean(axis=0)
        ok = np.isfinite(ctx.fit_rates)
        tv = float(np.abs(shares[ok] - ctx.fit_rates[ok]).mean()) if ok.any() else float("nan")
        kind = "binary attributes: share of samples whose k nearest fit points vote +1"
    return {"label_tv": tv, "label_shares": dict(zip(ctx.names, shares.tolist())), "label_kind": kind}


def store_label_context(store, fit_rows, Zfit, k: int = 5, *, seed: int = 0) -> LabelContext | None:
    """:func:`label_context` for the ``fit_rows`` of a z-store (``None`` when it has no ``/attributes``)."""
    from ..store import open_store

    with open_store(store) as s:
        if s.attributes is None or not s.attribute_names:
            return None
        labels = np.asarray(s.attributes[:])[np.asarray(fit_rows, dtype=np.int64)]
        names = list(s.attribute_names)
    return label_context(names, Zfit, labels, k, seed=seed)


def label_summary(ctx: LabelContext | None, per_sampler: dict) -> dict | None:
    """The ``labels`` block of ``compare.json``: kind, the fit rows' shares, each sampler's shares and ``label_tv``."""
    if ctx is None:
        return None
    return {"kind": "one-hot" if ctx.one_hot else "binary", "k": ctx.k, "names": ctx.names,
            "fit_shares": ctx.fit_rates.tolist(),
            "samplers": {name: {"label_tv": cov["label_tv"], "shares": [cov["label_shares"][n] for n in ctx.names]}
                         for name, cov in per_sampler.items() if cov}}
