"""``encode --resume`` is refused when ANY of the fields that decide the z-values differs, and nothing is lost.

A z-store holds the provenance of its rows (model hash, image size, channels, crop, dataset). Appending rows
of another preprocessing or model to it would mix two spaces silently, so each field is tried on its own,
through the real ``encode`` path, both by changing the run and by changing the store.
"""

from __future__ import annotations

import hashlib
import shutil

import h5py
import numpy as np
import pytest

from latentlab import StoreError, open_store
from latentlab.encoding import encode
from latentlab.store import StoreWriter

MUST_MATCH = ("model_sha256", "image_size", "channels", "crop", "dataset")


class FakeAE:
    """A deterministic linear 'encoder' on grey or RGB pixels (no TensorFlow)."""

    z_dim, source = 4, "numpy-stand-in"

    def __init__(self, image_size=16, channels=1, sha256="0" * 64, crop=(178, 178)):
        self.image_size, self.channels, self.sha256 = image_size, channels, sha256
        self.config = {"crop": list(crop)}
        self._w = np.random.default_rng(0).normal(size=(image_size * image_size * channels, 4)).astype(np.float32)

    def encode_batch(self, images):
        return images.reshape(len(images), -1).astype(np.float32) / 255.0 @ self._w / self.image_size


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    from latentlab.sources import make_celeba_layout

    return make_celeba_layout(tmp_path_factory.mktemp("resume") / "celeba", n=24)


@pytest.fixture(scope="module")
def partial_store(layout, tmp_path_factory):
    """A store of the first 24 faces, then marked incomplete as a killed encode leaves it."""
    out = tmp_path_factory.mktemp("partial") / "z.h5"
    encode(autoencoder=FakeAE(), data=layout, dataset="celeba", out=out, batch_size=8, workers=1, distribute=False)
    with open_store(out) as s:
        attrs = dict(s.attrs)
    for key in MUST_MATCH:  # the fixture really records every field the guard compares
        assert key in attrs, key
    with h5py.File(out, "r+") as f:
        f.attrs["complete"] = False
    return out


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _resume(layout, out, ae=None, **kw):
    encode(autoencoder=ae or FakeAE(), data=layout, dataset=kw.pop("dataset", "celeba"), out=out, batch_size=8,
           workers=1, distribute=False, resume=True, **kw)


OTHER_VALUE = {"model_sha256": "1" * 64, "image_size": 32, "channels": 3, "crop": np.array([160, 160]),
               "dataset": "fashion-mnist"}


@pytest.mark.parametrize("key", MUST_MATCH)
@pytest.mark.parametrize("complete", [False, True])
def test_resume_refused_when_the_store_differs_in_any_field(partial_store, layout, tmp_path, key, complete):
    out = tmp_path / "z.h5"
    shutil.copy2(partial_store, out)
    with h5py.File(out, "r+") as f:
        f.attrs[key] = OTHER_VALUE[key]
        f.attrs["complete"] = complete
    before = _digest(out)
    with pytest.raises(StoreError, match=f"cannot resume, the store has {key} ") as err:
        _resume(layout, out)
    assert "\n" not in str(err.value) and "--overwrite" in str(err.value)
    assert _digest(out) == before  # nothing written, nothing lost
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.h5"]  # no temporary file or lock left


@pytest.mark.parametrize("change", ["model_sha256", "image_size", "channels", "crop"])
def test_resume_refused_when_the_run_differs(partial_store, layout, tmp_path, change):
    out = tmp_path / "z.h5"
    shutil.copy2(partial_store, out)
    before = _digest(out)
    ae, kw = FakeAE(), {}
    if change == "model_sha256":
        ae = FakeAE(sha256="f" * 64)
    elif change == "image_size":
        ae = FakeAE(image_size=8)
    elif change == "channels":
        ae = FakeAE(channels=3)
    else:
        kw["crop"] = (150, 150)
    with pytest.raises(StoreError, match=f"cannot resume, the store has {change} "):
        _resume(layout, out, ae, **kw)
    assert _digest(out) == before


def test_resume_with_every_field_equal_finishes_the_store(partial_store, layout, tmp_path):
    out = tmp_path / "z.h5"
    shutil.copy2(partial_store, out)
    _resume(layout, out)
    ref = tmp_path / "ref.h5"
    encode(autoencoder=FakeAE(), data=layout, dataset="celeba", out=ref, batch_size=8, workers=1, distribute=False)
    with open_store(out) as a, open_store(ref) as b:
        assert a.complete and list(a.read_ids()) == list(b.read_ids())
        np.testing.assert_array_equal(a.read_z(), b.read_z())


@pytest.mark.parametrize("key", MUST_MATCH)
def test_store_writer_guard_compares_each_field(tmp_path, key):
    """The guard itself, on a writer left incomplete: equal values resume, a different one is refused."""
    attrs = {"model_sha256": "a" * 64, "image_size": 16, "channels": 1, "crop": [178, 178], "dataset": "celeba"}
    path = tmp_path / "z.h5"
    w = StoreWriter(path, 2, attrs=attrs)
    w.append(np.ones((3, 2)), ["a", "b", "c"])
    w.close(complete=False)
    with pytest.raises(StoreError, match=f"the store has {key} .* but this run has"):
        StoreWriter(path, 2, attrs={**attrs, key: OTHER_VALUE[key]}, mode="resume")
    # a tuple crop equals the stored list; a missing field in the run is not a mismatch
    same = {**attrs, "crop": (178, 178)}
    same.pop(key)
    w = StoreWriter(path, 2, attrs=same, mode="resume")
    assert w.resumed_ids == ["a", "b", "c"]
    w.close(complete=False)
