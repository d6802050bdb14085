"""tf.distribute code paths (MirroredStrategy), exercised on the one CPU device this machine has."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentlab import open_store
from latentlab.cli import main


def test_strategy_selection():
    import tensorflow as tf

    from latentlab.model._train import training_strategy

    assert not isinstance(training_strategy(False), tf.distribute.MirroredStrategy)
    forced = training_strategy(True)
    assert isinstance(forced, tf.distribute.MirroredStrategy) and forced.num_replicas_in_sync >= 1
    if len(tf.config.list_physical_devices("GPU")) < 2:  # automatic: mirrored only with several GPUs
        assert not isinstance(training_strategy(None), tf.distribute.MirroredStrategy)


def test_train_with_forced_mirrored_strategy(celeba_dir, tmp_path):
    out = tmp_path / "model"
    rc = main(["train", "--data", str(celeba_dir), "--out", str(out), "--image-size", "16", "--z-dim", "4",
               "--filters", "4,4,8,8", "--epochs", "1", "--batch-size", "32", "--limit", "64", "--distribute"])
    assert rc == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["epochs_done"] == 1 and np.isfinite(cfg["data"]["final_loss"])
    # the model trained under the strategy loads and encodes like any other
    from latentlab.model import load_autoencoder

    ae = load_autoencoder(out)
    assert ae.encode(np.zeros((3, 16, 16, 3), np.uint8)).shape == (3, 4)


def test_encode_with_forced_mirrored_strategy_matches_plain(rgb_model, celeba_dir, tmp_path):
    common = ["--model", str(rgb_model), "--data", str(celeba_dir), "--batch-size", "24", "--limit", "50", "-q"]
    assert main(["encode", *common, "--out", str(tmp_path / "plain.h5")]) == 0
    assert main(["encode", *common, "--distribute", "--out", str(tmp_path / "mirrored.h5")]) == 0
    with open_store(tmp_path / "plain.h5") as a, open_store(tmp_path / "mirrored.h5") as b:
        assert list(a.read_ids()) == list(b.read_ids()) and a.n == 50
        np.testing.assert_allclose(b.read_z(), a.read_z(), rtol=1e-5, atol=1e-6)


_TWO_REPLICAS = """
import sys, numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from latentlab.encoding import distributed_encoder
from latentlab.model import load_autoencoder
ae = load_autoencoder(sys.argv[1])
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
fn = distributed_encoder(ae, strategy)
for n in (7, 1, 2, 24):
    x = np.random.default_rng(n).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(fn(x), ae.encode_batch(x), rtol=1e-5, atol=1e-6)
print("ok", strategy.num_replicas_in_sync)
"""


def test_distributed_encoder_splits_batches_over_two_replicas(rgb_model):
    """Two logical CPU devices (set up in a fresh process): each batch is split and reassembled in order."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", _TWO_REPLICAS, str(rgb_model)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().endswith("ok 2")


def test_bad_shard_and_thread_options(rgb_model, celeba_dir, tmp_path, capsys):
    base = ["encode", "--model", str(rgb_model), "--data", str(celeba_dir), "--out", str(tmp_path / "z.h5"), "-q"]
    assert main([*base, "--shard", "x"]) == 2
    assert "--shard" in capsys.readouterr().err
    assert main([*base, "--model-threads", "0"]) == 2
    assert "--model-threads" in capsys.readouterr().err


@pytest.mark.parametrize("threads", ["auto", 2])
def test_configure_model_threads_never_fails_once_tensorflow_runs(threads):
    from latentlab.encoding import configure_model_threads

    import tensorflow as tf

    tf.constant(1.0) + 1.0  # TensorFlow is running: the setting can no longer change
    assert configure_model_threads(threads) is False
