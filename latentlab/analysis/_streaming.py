"""Streamed accumulation over ``/z``: the one place where data is read.

Every analysis is a few passes over the z-store. A pass runs a dict of
*accumulators* over row blocks; each accumulator has

* ``update(block, index)`` – fold in a float64 ``(rows, z_dim)`` block and
  its global row indices,
* ``merge(other)`` – combine with an accumulator that saw other rows,
* ``empty()`` – a fresh accumulator with the same parameters.

Memory is independent of the number of rows: sums and cross-products are
``O(z_dim²)``, histograms use fixed edges, and row subsamples are chosen up
front (seeded) by index, so neither the chunk size nor the engine changes a
result beyond float64 rounding.

The *engine* decides how blocks are visited: ``"numpy"`` folds them in
order in this process; ``"dask"`` maps them over the HDF5 chunks with
:mod:`dask.array` (optionally on a :mod:`dask.distributed` cluster) and
tree-reduces with ``merge``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np

from .._errors import LatentlabError
from ..store import ZStore, open_store, partition_code  # noqa: F401  (ZStore: type hints)
from ..store._rows import ArrayStore  # noqa: F401  (in-memory row source; was defined here)

__all__: list[str] = []

ENGINES = ("numpy", "dask")

#: Bytes of float32 rows per streamed block when no chunk size is given (float64 copies double it).
_BLOCK_BYTES = 4 * 2**20

#: Rows used to choose the provisional shift (numerical centring of sums).
_SHIFT_ROWS = 1024


# -- inputs -----------------------------------------------------------------
@contextmanager
def as_store(store_or_path):
    """Yield a row source (:class:`~latentlab.store.RowSource`) for a path, an open store or an array."""
    if hasattr(store_or_path, "iter_chunks"):  # already a row source
        yield store_or_path
        return
    if isinstance(store_or_path, (str, os.PathLike)):
        with open_store(store_or_path) as store:
            yield store
        return
    if isinstance(store_or_path, (np.ndarray, list)):
        yield ArrayStore(store_or_path)
        return
    raise LatentlabError(f"expected a z-store path, an open ZStore or an array, got {type(store_or_path).__name__}")


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise LatentlabError(f"engine: unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    return engine


def block_rows(store: ZStore, chunk_rows: int | None) -> int:
    """Rows per streamed block: ``chunk_rows`` or a multiple of the HDF5 chunk holding about 4 MiB of float32."""
    if chunk_rows is None:
        c = max(1, int(store.chunk_rows))
        target = _BLOCK_BYTES // (4 * max(1, store.z_dim))
        return max(c, (target // c) * c)
    try:
        rows = int(chunk_rows)
    except (TypeError, ValueError):
        raise LatentlabError(f"chunk_rows: expected a positive integer, got {chunk_rows!r}") from None
    if rows < 1:
        raise LatentlabError(f"chunk_rows: expected a positive integer, got {chunk_rows!r}")
    return rows


def selected_rows(store: ZStore, partition: str | None) -> np.ndarray | None:
    """Global row indices of a partition (``None`` = all rows); errors when empty."""
    sel = store.selection(partition)
    n = store.n if sel is None else len(sel)
    if n == 0:
        what = f"partition {partition!r}" if sel is not None else "the store"
        raise LatentlabError(f"{store.path}: {what} has no rows to analyse")
    return sel


def n_selected(store: ZStore, partition: str | None) -> int:
    sel = selected_rows(store, partition)
    return store.n if sel is None else len(sel)


def sample_index(store: ZStore, size: int, *, partition: str | None = None, seed: int = 0) -> np.ndarray:
    """Sorted global indices of a seeded random subsample of at most ``size`` rows."""
    sel = selected_rows(store, partition)
    n = store.n if sel is None else len(sel)
    if size >= n:
        return np.arange(store.n) if sel is None else np.asarray(sel)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, size=int(size), replace=False))
    return pick if sel is None else np.asarray(sel)[pick]


def provisional_shift(store: ZStore, partition: str | None = None) -> np.ndarray:
    """Mean of the first rows (of a partition): the centring used for all sums."""
    sel = selected_rows(store, partition)
    if sel is None:
        rows = store.z[: min(store.n, _SHIFT_ROWS)]
    else:
        rows = store.z[np.asarray(sel[:_SHIFT_ROWS])]
    return np.asarray(rows, dtype=np.float64).mean(axis=0)


class Passes:
    """The set-up every streamed analysis shares: one input, its selected rows, and how passes run.

    Made by :func:`open_passes`; ``run(accumulators)`` is one pass over the
    selected rows with the chosen chunking and engine.
    """

    def __init__(self, store, partition=None, chunk_rows=None, engine="numpy", scheduler=None):
        check_engine(engine)
        block_rows(store, chunk_rows)  # validate before the first pass
        self.store, self.partition = store, partition
        self.chunk_rows, self.engine, self.scheduler = chunk_rows, engine, scheduler
        self.n = n_selected(store, partition)
        self.z_dim = store.z_dim
        self.label = str(store.path)
        self._shift = None

    @property
    def shift(self) -> np.ndarray:
        """The provisional centring of every sum (mean of the first selected rows)."""
        if self._shift is None:
            self._shift = provisional_shift(self.store, self.partition)
        return self._shift

    def sample_index(self, size: int, seed: int = 0) -> np.ndarray:
        return sample_index(self.store, int(size), partition=self.partition, seed=seed)

    def run(self, accumulators: dict) -> dict:
        return run_pass(self.store, accumulators, partition=self.partition, chunk_rows=self.chunk_rows,
                        engine=self.engine, scheduler=self.scheduler)


@contextmanager
def open_passes(data, partition=None, chunk_rows=None, engine="numpy", scheduler=None):
    """Open ``data`` (path, store or array) and yield its :class:`Passes` (options checked first)."""
    with as_store(data) as store:
        yield Passes(store, partition, chunk_rows, engine, scheduler)


# -- accumulators -----------------------------------------------------------
class Moments:
    """Count, sums of powers, extremes and (optionally) cross-products, float64.

    All sums are of ``block - shift``, in float64; a shift near the mean keeps
    them accurate (no catastrophic cancellation in the variance).
    """

    def __init__(self, shift, *, cross: bool = False, higher: bool = False):
        self.shift = np.asarray(shift, dtype=np.float64)
        d = self.shift.shape[0]
        self.cross_wanted, self.higher = cross, higher
        self.n = 0
        self.s1 = np.zeros(d)
        self.s2 = np.zeros(d)
        self.s3 = np.zeros(d) if higher else None
        self.s4 = np.zeros(d) if higher else None
        self.cross = np.zeros((d, d)) if cross else None
        self.min = np.full(d, np.inf)
        self.max = np.full(d, -np.inf)

    def empty(self) -> Moments:
        return Moments(self.shift, cross=self.cross_wanted, higher=self.higher)

    def update(self, block: np.ndarray, index=None) -> None:
        if not len(block):
            return
        c = np.subtract(block, self.shift, dtype=np.float64)
        self.n += len(c)
        self.s1 += c.sum(axis=0)
        if self.cross is not None:
            g = _gram(c)
            self.cross += g
            self.s2 += np.diag(g)
        if self.higher or self.cross is None:
            c2 = c * c
            if self.cross is None:
                self.s2 += c2.sum(axis=0)
            if self.higher:
                self.s3 += (c2 * c).sum(axis=0)
                self.s4 += (c2 * c2).sum(axis=0)
        np.minimum(self.min, block.min(axis=0), out=self.min)
        np.maximum(self.max, block.max(axis=0), out=self.max)

    def merge(self, other: Moments) -> Moments:
        """Moments of both row sets (``other``'s sums are re-centred when its shift differs)."""
        if not np.array_equal(other.shift, self.shift):
            other = other.recentred(self.shift)
        out = self.empty()
        out.n = self.n + other.n
        for key in ("s1", "s2", "s3", "s4", "cross"):
            a = getattr(self, key)
            if a is not None:
                setattr(out, key, a + getattr(other, key))
        out.min = np.minimum(self.min, other.min)
        out.max = np.maximum(self.max, other.max)
        return out

    def recentred(self, shift) -> Moments:
        """The same moments as sums of ``block - shift`` (binomial expansion of each power sum)."""
        out = Moments(shift, cross=self.cross_wanted, higher=self.higher)
        delta = self.shift - out.shift  # c_new = c_old + delta
        n, s1, s2 = self.n, self.s1, self.s2
        out.n, out.min, out.max = n, self.min.copy(), self.max.copy()
        out.s1 = s1 + n * delta
        out.s2 = s2 + 2 * delta * s1 + n * delta**2
        if self.higher:
            out.s3 = self.s3 + 3 * delta * s2 + 3 * delta**2 * s1 + n * delta**3
            out.s4 = self.s4 + 4 * delta * self.s3 + 6 * delta**2 * s2 + 4 * delta**3 * s1 + n * delta**4
        if self.cross is not None:
            out.cross = self.cross + np.outer(delta, s1) + np.outer(s1, delta) + n * np.outer(delta, delta)
        return out

    # -- derived statistics -------------------------------------------------
    @property
    def mean(self) -> np.ndarray:
        return self.shift + self.s1 / self.n

    def _central(self):
        n = self.n
        mu = self.s1 / n
        m2 = self.s2 / n - mu**2
        return mu, np.maximum(m2, 0.0)

    def var(self, ddof: int = 0) -> np.ndarray:
        _, m2 = self._central()
        return m2 * self.n / max(self.n - ddof, 1)

    def std(self, ddof: int = 0) -> np.ndarray:
        return np.sqrt(self.var(ddof))

    def skewness(self) -> np.ndarray:
        """Biased sample skewness (as ``scipy.stats.skew``)."""
        n = self.n
        mu, m2 = self._central()
        m3 = self.s3 / n - 3 * mu * self.s2 / n + 2 * mu**3
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(m2 > 0, m3 / m2**1.5, 0.0)

    def kurtosis(self) -> np.ndarray:
        """Biased excess kurtosis (as ``scipy.stats.kurtosis``)."""
        n = self.n
        mu, m2 = self._central()
        m4 = self.s4 / n - 4 * mu * self.s3 / n + 6 * mu**2 * self.s2 / n - 3 * mu**4
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(m2 > 0, m4 / m2**2 - 3.0, 0.0)

    def cov(self, ddof: int = 1) -> np.ndarray:
        n = self.n
        c = self.cross - np.outer(self.s1, self.s1) / n
        c = (c + c.T) / 2
        return c / max(n - ddof, 1)


def _gram(c: np.ndarray) -> np.ndarray:
    """``c.T @ c`` (BLAS gemm; measured faster here than the symmetric syrk + copy)."""
    return c.T @ c


class RowSample:
    """Gather the rows whose global indices are listed (a seeded subsample)."""

    def __init__(self, index: np.ndarray):
        self.index = np.asarray(index, dtype=np.int64)
        self.got_index: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []

    def empty(self) -> RowSample:
        return RowSample(self.index)

    def update(self, block: np.ndarray, index: np.ndarray) -> None:
        keep = np.isin(index, self.index, assume_unique=True)
        if keep.any():
            self.got_index.append(index[keep])
            self.rows.append(np.array(block[keep], dtype=np.float64))

    def merge(self, other: RowSample) -> RowSample:
        out = self.empty()
        out.got_index = self.got_index + other.got_index
        out.rows = self.rows + other.rows
        return out

    def result(self, d: int) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, rows)`` sorted by index."""
        if not self.rows:
            return np.empty(0, np.int64), np.empty((0, d))
        idx = np.concatenate(self.got_index)
        rows = np.concatenate(self.rows)
        order = np.argsort(idx, kind="stable")
        return idx[order], rows[order]


class Histograms:
    """Per-column histograms with fixed edges of a row-wise transform of the block.

    ``transform(block) -> (rows, k)`` (or ``(rows,)``); ``edges`` is
    ``(k, bins + 1)``. Values outside the edges are counted in ``below`` /
    ``above``. Also keeps count, sum, sum of squares, min and max per column.
    """

    def __init__(self, edges: np.ndarray, transform=None):
        self.edges = np.atleast_2d(np.asarray(edges, dtype=np.float64))
        self.transform = transform
        k, b = self.edges.shape[0], self.edges.shape[1] - 1
        self.counts = np.zeros((k, b), dtype=np.int64)
        self.below = np.zeros(k, dtype=np.int64)
        self.above = np.zeros(k, dtype=np.int64)
        self.n = 0
        self.s1 = np.zeros(k)
        self.s2 = np.zeros(k)
        self.min = np.full(k, np.inf)
        self.max = np.full(k, -np.inf)

    def empty(self) -> Histograms:
        return Histograms(self.edges, self.transform)

    def update(self, block: np.ndarray, index=None) -> None:
        if not len(block):
            return
        v = block if self.transform is None else self.transform(block)
        v = np.asarray(v, dtype=np.float64)
        if v.ndim == 1:
            v = v[:, None]
        self.n += len(v)
        self.s1 += v.sum(axis=0)
        self.s2 += (v * v).sum(axis=0)
        np.minimum(self.min, v.min(axis=0), out=self.min)
        np.maximum(self.max, v.max(axis=0), out=self.max)
        for j in range(v.shape[1]):
            e = self.edges[j]
            col = v[:, j]
            self.below[j] += int((col < e[0]).sum())
            self.above[j] += int((col > e[-1]).sum())
            # searchsorted on fixed edges: identical counts for any chunking
            pos = np.searchsorted(e, col, side="right") - 1
            pos[col == e[-1]] = len(e) - 2
            ok = (pos >= 0) & (pos < len(e) - 1)
            self.counts[j] += np.bincount(pos[ok], minlength=len(e) - 1)

    def merge(self, other: Histograms) -> Histograms:
        out = self.empty()
        for key in ("counts", "below", "above", "s1", "s2"):
            setattr(out, key, getattr(self, key) + getattr(other, key))
        out.n = self.n + other.n
        out.min = np.minimum(self.min, other.min)
        out.max = np.maximum(self.max, other.max)
        return out


# -- picklable row transforms (usable on a dask.distributed cluster) ---------
class Norm:
    """``‖block - center‖`` per row."""

    def __init__(self, center=None):
        self.center = None if center is None else np.asarray(center, dtype=np.float64)

    def __call__(self, block):
        c = np.asarray(block, dtype=np.float64) if self.center is None else block - self.center
        return np.sqrt(np.einsum("ij,ij->i", c, c))


class Mahalanobis2:
    """Squared Mahalanobis distance ``(z - m)ᵀ Σ⁻¹ (z - m)`` per row, with ``W Wᵀ = Σ⁻¹``."""

    def __init__(self, mean, whitener):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.whitener = np.asarray(whitener, dtype=np.float64)

    def __call__(self, block):
        y = (block - self.mean) @ self.whitener
        return np.einsum("ij,ij->i", y, y)


class RangeProduct:
    """``Σ Xcᵀ (Xc Q)`` and ``Σ (Xc Q)ᵀ (Xc Q)`` for streamed randomized PCA."""

    def __init__(self, mean, q):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.q = np.asarray(q, dtype=np.float64)
        self.xtxq = np.zeros_like(self.q)
        self.qtxtxq = np.zeros((self.q.shape[1], self.q.shape[1]))

    def empty(self) -> RangeProduct:
        return RangeProduct(self.mean, self.q)

    def update(self, block, index=None) -> None:
        c = block - self.mean
        y = c @ self.q
        self.xtxq += c.T @ y
        self.qtxtxq += y.T @ y

    def merge(self, other: RangeProduct) -> RangeProduct:
        out = self.empty()
        out.xtxq = self.xtxq + other.xtxq
        out.qtxtxq = self.qtxtxq + other.qtxtxq
        return out


# -- the pass driver --------------------------------------------------------
def run_pass(
    store: ZStore,
    accumulators: dict,
    *,
    partition: str | None = None,
    chunk_rows: int | None = None,
    engine: str = "numpy",
    scheduler=None,
) -> dict:
    """Run one pass over ``/z`` feeding every accumulator; return them filled.

    Parameters
    ----------
    store : ZStore
    accumulators : dict of name -> accumulator (used as templates)
    partition : str, optional
    chunk_rows : int, optional
        Rows per block (numpy engine) or per dask chunk.
    engine : {'numpy', 'dask'}
    scheduler : str or dask.distributed.Client, optional
        For ``engine='dask'``: a client, a scheduler address, or ``None``
        (``DASK_SCHEDULER_ADDRESS`` if set, else the local threaded scheduler).

    Accumulators receive blocks in the store's float32 and compute in float64.
    """
    check_engine(engine)
    rows = block_rows(store, chunk_rows)
    if engine == "dask":
        from ._dask import run_pass_dask

        return run_pass_dask(store, accumulators, partition=partition, rows=rows, scheduler=scheduler)
    partition_code(partition)
    accs = {k: a.empty() for k, a in accumulators.items()}
    blocks = store.iter_chunks(rows, partition=partition, dtype=np.float32, with_index=True)
    # The next block is read in a background thread while the current one is folded in.
    with _one_core_left_to_the_reader():
        for index, block in _prefetch(blocks):
            for acc in accs.values():
                acc.update(block, index)
    return accs


@contextmanager
def _one_core_left_to_the_reader():
    """Run BLAS on one thread fewer while the prefetch thread inflates chunks.

    The reader keeps a core busy decompressing (HDF5 runs on one thread); BLAS
    spread over every core too oversubscribes them. On 2 cores this took a
    200,000 × 256 PCA pass from 0.75 s to 0.52 s (``benchmarks/bench_analysis.py``).
    """
    from threadpoolctl import threadpool_info, threadpool_limits

    threads = max((i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"), default=1)
    if threads <= 1:
        yield
        return
    with threadpool_limits(threads - 1, user_api="blas"):
        yield


def _prefetch(iterator, depth: int = 1):
    """Yield from ``iterator``, reading one item ahead in a thread (HDF5 decompression overlaps BLAS)."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # re-raised in the consumer
            q.put(exc)

    thread = threading.Thread(target=work, name="latentlab-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                pass
            thread.join(timeout=0.05)

