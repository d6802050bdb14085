"""`latentlab pca` (and the other distribution analyses) never import TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from latentlab import write_store


@pytest.mark.parametrize("command", ["pca", "components", "radii", "correlations"])
def test_analysis_command_does_not_import_tensorflow(tmp_path, command):
    store = tmp_path / "z.h5"
    write_store(store, np.random.default_rng(0).normal(size=(500, 8)))
    out = tmp_path / "out"
    code = (
        "import sys; from latentlab.cli import main; "
        f"rc = main([{command!r}, {str(store)!r}, '--out', {str(out)!r}]); "
        "assert rc == 0, rc; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'; "
        "assert 'keras' not in sys.modules, 'keras was imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
