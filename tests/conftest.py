"""Shared fixtures: real offline faces in CelebA's layout, the demo model and store."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_SESSION_DEMO_DIR: Path | None = None


def pytest_configure(config):
    # Notebooks (run by nbmake in kernels that inherit this environment) and
    # tests share one demo build per test session.
    global _SESSION_DEMO_DIR
    if "LATENTLAB_DEMO_DIR" not in os.environ:
        import tempfile

        _SESSION_DEMO_DIR = Path(tempfile.mkdtemp(prefix="latentlab-demo-"))
        os.environ["LATENTLAB_DEMO_DIR"] = str(_SESSION_DEMO_DIR)


def pytest_unconfigure(config):
    if _SESSION_DEMO_DIR is not None:
        import shutil

        shutil.rmtree(_SESSION_DEMO_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def celeba_dir(tmp_path_factory) -> Path:
    """100 real LFW faces as 178×218 RGB JPEGs with both CelebA list files."""
    from latentlab.sources import make_celeba_layout

    return make_celeba_layout(tmp_path_factory.mktemp("celeba"), n=100)


@pytest.fixture(scope="session")
def demo():
    """The demo build (quick): ``.model_dir`` (32×32 grey, z_dim 16) and ``.store`` (100 LFW faces)."""
    from latentlab.demo import ensure_demo

    return ensure_demo(quick=True)


@pytest.fixture(scope="session")
def rgb_model(tmp_path_factory, celeba_dir) -> Path:
    """A tiny 32×32 RGB autoencoder (z_dim 8) trained for 2 epochs on the CelebA-layout fixture."""
    from latentlab.model import train

    out = tmp_path_factory.mktemp("rgb_model") / "model"
    train(celeba_dir, "celeba", out, image_size=32, channels=3, z_dim=8, filters=(8, 16, 16, 16),
          epochs=2, batch_size=16, verbose=0)
    return out
