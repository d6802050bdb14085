"""Import Keras/TensorFlow once, quietly (only the commands that run a model call this)."""

from __future__ import annotations

import os
import sys


def import_keras():
    """Return the ``keras`` module with the TensorFlow backend, TF's start-up chatter silenced."""
    if "keras" in sys.modules and "tensorflow" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # TensorFlow writes C++ log lines to fd 2 before its logging is configured
    # (and again when it probes for CUDA); they say nothing useful on a CPU.
    saved, devnull = None, None
    try:
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
    except OSError:  # pragma: no cover - no fd 2 (some notebook kernels)
        saved = None
    try:
        import tensorflow as tf

        tf.config.list_physical_devices()
        import keras
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    return keras
