"""NN-descent k-NN graph whose compiled code numba caches on disk.

pynndescent's ``NNDescent`` compiles its whole NN-descent driver (numba) in
every new process: 65-76 CPU-seconds on this project's 2-core machine
(measured with numba 0.68.1 / pynndescent 0.7.0), single-threaded, so about
a minute of wall time at every ``latentlab fragments`` run above 20,000
points. The driver cannot be cached: ``nn_descent`` and
``nn_descent_internal`` call ``numba.get_num_threads()`` inside compiled code,
which embeds a pointer into the threading layer ("dynamic globals"; numba
refuses to cache them). Every function they call is cacheable.

:func:`nn_descent_graph` runs the same steps as ``NNDescent(data,
metric="euclidean", ...)`` (same random number draws, same random-projection
forest, same local joins with pynndescent's batched squared-Euclidean kernel)
from a driver compiled with ``cache=True`` that takes the thread count as an
argument: the first process compiles and writes the cache, later ones load
it in about a second. Only the k-NN graph of the data is built; it returns
``n_neighbors`` true neighbours per row (no self-loop), whereas
``NNDescent.neighbor_graph`` puts each point first and drops its farthest
neighbour.

The loop below mirrors ``pynndescent.pynndescent_.nn_descent`` /
``nn_descent_internal`` of pynndescent 0.7.0, whose building blocks it calls;
:data:`SUPPORTED` says whether the installed pynndescent is that version
(otherwise callers use ``NNDescent``).
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import numba
import numpy as np
import pynndescent
from pynndescent.distances import squared_euclidean
from pynndescent.utils import build_candidates_owner, deheap_sort, make_heap

#: The pynndescent release whose internals the cached driver calls.
TESTED_VERSION = "0.7.0"
SUPPORTED = pynndescent.__version__ == TESTED_VERSION

def _bind_distance(dispatcher, dist, **callees):
    """``dispatcher`` recompiled with its ``dist`` argument replaced by the global ``dist``.

    A dispatcher passed as a value is lowered as a pointer to the Python
    object, which makes the caller uncacheable; called by name as a global it
    is linked statically. The ``dist`` parameter stays (callers pass ``0``),
    every use of ``dist`` other than a call becomes ``0`` (it is only ever
    handed on), and ``callees`` are rebound the same way.
    """
    func = dispatcher.py_func
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    node = tree.body[0]
    node.decorator_list = []
    for arg in node.args.args:
        if arg.arg == "dist":
            arg.arg = "_unused_dist"

    class _HandOnZero(ast.NodeTransformer):
        def visit_Call(self, call):
            call.args = [self.visit(a) for a in call.args]
            call.keywords = [self.visit(k) for k in call.keywords]
            return call  # ``dist(...)`` itself stays a call of the global

        def visit_Name(self, name):
            if name.id == "dist" and isinstance(name.ctx, ast.Load):
                return ast.copy_location(ast.Constant(0), name)
            return name

    node.body = [_HandOnZero().visit(stmt) for stmt in node.body]
    ast.fix_missing_locations(tree)
    namespace = dict(func.__globals__, dist=dist, **callees)
    exec(compile(tree, f"<{func.__module__}.{func.__name__} with a fixed distance>", "exec"), namespace)
    return numba.njit(locals=dict(dispatcher.locals), **{key: value for key, value in dispatcher.targetoptions.items()
                                                      if key != "nopython"})(namespace[func.__name__])


if SUPPORTED:
    import pynndescent.pynndescent_ as _nnd
    import pynndescent.utils as _nnd_utils
    from pynndescent.hybrid_forest import make_hybrid_leaf_array
    from pynndescent.kernels import KERNEL_SQEUCLIDEAN

    _init_random = _bind_distance(_nnd.init_random, squared_euclidean)
    _init_rp_tree = _bind_distance(
        _nnd.init_rp_tree, squared_euclidean,
        generate_leaf_updates=_bind_distance(_nnd.generate_leaf_updates, squared_euclidean))
    _process_candidates = _bind_distance(
        _nnd.process_candidates, squared_euclidean,
        generate_graph_update_array=_bind_distance(_nnd_utils.generate_graph_update_array, squared_euclidean))

    @numba.njit(cache=True)
    def _nn_descent_sqeuclidean(data, n_neighbors, rng_state, max_candidates, n_iters, delta, leaf_array,
                                n_threads):
        n_vertices = data.shape[0]
        current_graph = make_heap(n_vertices, n_neighbors)
        _init_rp_tree(data, 0, current_graph, leaf_array, n_threads)
        _init_random(n_neighbors, data, current_graph, 0, rng_state)

        block_size = 16384
        n_blocks = n_vertices // block_size
        max_updates_per_thread = (
            int((max_candidates**2 + max_candidates * (max_candidates - 1) / 2) * block_size / n_threads) + 1024
        )
        update_array = np.empty((n_threads, max_updates_per_thread, 3), dtype=np.float32)
        n_updates_per_thread = np.zeros(n_threads, dtype=np.int32)
        if n_threads > 1:
            sorted_updates = np.empty((n_threads, 2 * max_updates_per_thread, 3), dtype=np.float32)
        else:
            sorted_updates = np.empty((1, 1, 3), dtype=np.float32)
        block_offsets = np.zeros((n_threads, n_threads + 1), dtype=np.int64)
        new_candidate_indices = np.full((n_vertices, max_candidates), -1, dtype=np.int32)
        new_candidate_priority = np.full((n_vertices, max_candidates), np.inf, dtype=np.float32)
        old_candidate_indices = np.full((n_vertices, max_candidates), -1, dtype=np.int32)
        old_candidate_priority = np.full((n_vertices, max_candidates), np.inf, dtype=np.float32)
        active = np.ones(n_vertices, dtype=np.uint8)
        reverse_dst = np.empty(n_vertices * n_neighbors, dtype=np.int32)
        reverse_src = np.empty(n_vertices * n_neighbors, dtype=np.int32)
        bucket_bounds = np.zeros((n_threads, n_threads + 1), dtype=np.int64)

        for _ in range(n_iters):
            new_candidates, old_candidates = build_candidates_owner(
                current_graph, max_candidates, rng_state, n_threads,
                new_candidate_indices, new_candidate_priority, old_candidate_indices, old_candidate_priority,
                active, reverse_dst, reverse_src, bucket_bounds,
            )
            c = _process_candidates(
                data, 0, current_graph, new_candidates, old_candidates, n_blocks, block_size,
                n_threads, update_array, n_updates_per_thread, sorted_updates, block_offsets, KERNEL_SQEUCLIDEAN,
            )
            if c <= delta * n_neighbors * n_vertices:
                break
        return deheap_sort(current_graph[0], current_graph[1])


def nn_descent_graph(data: np.ndarray, n_neighbors: int, *, max_candidates: int, random_state: int,
                     n_iters: int | None = None, delta: float = 0.001) -> tuple[np.ndarray, np.ndarray]:
    """Approximate Euclidean k-NN graph of ``data`` (float32, C order), self excluded.

    Parameters as ``pynndescent.NNDescent`` (its defaults for the number of
    trees, leaf size and iterations). Returns ``(indices int32, distances
    float32)`` of shape ``(n, n_neighbors)``, sorted by distance; -1 / inf
    where fewer neighbours were found.
    """
    if not SUPPORTED:  # pragma: no cover - guarded by the caller
        raise RuntimeError(f"the cached NN-descent driver needs pynndescent {TESTED_VERSION}")
    from sklearn.utils import check_random_state

    data = np.ascontiguousarray(data, dtype=np.float32)
    n = data.shape[0]
    n_trees = max(3, min(12, int(round(2.0 * np.log10(n)))))
    if n_iters is None:
        n_iters = max(5, int(round(np.log2(n))))
    # The same draws, in the same order, as NNDescent.__init__: the NN-descent
    # state, the (unused here) search state, then the forest's seed.
    rng = check_random_state(random_state)
    int32_min, int32_max = np.iinfo(np.int32).min + 1, np.iinfo(np.int32).max - 1
    rng_state = rng.randint(int32_min, int32_max, 3).astype(np.int64)
    rng.randint(int32_min, int32_max, 3)
    leaf_size = max(60, min(256, 5 * int(n_neighbors)))
    leaf_array = make_hybrid_leaf_array(data, n_trees, leaf_size, int(rng.randint(0, 2**62, dtype=np.int64)),
                                        angular=False, max_depth=200)
    ind, sq = _nn_descent_sqeuclidean(data, int(n_neighbors), rng_state, int(max_candidates), int(n_iters),
                                      float(delta), leaf_array, int(numba.get_num_threads()))
    return ind, np.sqrt(sq).astype(np.float32, copy=False)
