"""The row-source contract: a z-store and an in-memory array read alike; the lazy reader pickles by path."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from latentlab import StoreError, open_store, write_store
from latentlab.store import ArrayStore


@pytest.fixture()
def rows(tmp_path):
    z = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    return z, write_store(tmp_path / "z.h5", z, partition=np.arange(50) % 3)


def test_store_and_array_give_the_same_chunks_and_dask_arrays(rows):
    z, path = rows
    with open_store(path) as store:
        for source in (store, ArrayStore(z)):
            assert (source.n, source.z_dim) == z.shape
            np.testing.assert_array_equal(np.concatenate(list(source.iter_chunks(7, dtype=np.float32))), z)
            dz, part = source.to_dask(16)
            np.testing.assert_array_equal(dz.compute(), z)
        np.testing.assert_array_equal(store.to_dask(16)[1].compute(), np.arange(50) % 3)
        assert ArrayStore(z).to_dask(16)[1] is None


def test_lazy_rows_pickle_by_path_and_still_refuse_nan(rows, tmp_path):
    z, path = rows
    with open_store(path) as store:
        copy = pickle.loads(pickle.dumps(store.z))
        assert copy.dataset is None and copy.shape == z.shape
        np.testing.assert_array_equal(copy[5:9], z[5:9])
        np.testing.assert_array_equal(copy[np.array([9, 2])], z[[9, 2]])
    bad = z.copy()
    bad[3, 1] = np.nan
    with open_store(write_store(tmp_path / "nan.h5", bad)) as store:
        detached = store.z.detached()
        with pytest.raises(StoreError, match="NaN or Inf"):
            detached[0:10]
