"""Doctest collection over ``latentlab/`` (``--doctest-modules``): skip the modules that import Keras on import."""

collect_ignore = ["latentlab/model/_architecture.py", "latentlab/model/_callbacks.py"]
