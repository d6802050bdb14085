"""latentlab: analyse the latent space of autoencoders.

Data flow: images (:mod:`latentlab.sources`) → model (:mod:`latentlab.model`)
→ :func:`encode` → z-store (:mod:`latentlab.store`) → analyses
(:mod:`latentlab.analysis`) → sampling regions (:mod:`latentlab.regions`)
→ decoder (:mod:`latentlab.generate`) → report (:mod:`latentlab.report`).

Importing latentlab does not import TensorFlow; only training, encoding and
decoding do.
"""

from ._errors import LatentlabError, ModelError, StoreError
from ._version import __version__
from .store import StoreWriter, ZStore, open_store, write_store

__all__ = [
    "LatentlabError",
    "ModelError",
    "StoreError",
    "StoreWriter",
    "ZStore",
    "__version__",
    "encode",
    "open_store",
    "train",
    "write_store",
]


_SUBMODULES = ("sources", "model", "store", "analysis", "regions", "metrics", "generate", "plots", "report", "demo", "explore")


def __getattr__(name):
    # Heavy entry points are imported on first use so that `import latentlab`
    # (and every analysis command) stays free of TensorFlow.
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name == "encode":
        from .encoding import encode

        return encode
    if name == "train":
        from .model import train

        return train
    raise AttributeError(f"module 'latentlab' has no attribute {name!r}")
