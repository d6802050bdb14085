"""``latentlab demo``: the whole pipeline on real offline faces, no download.

Trains a small autoencoder on the 100 LFW faces shipped with scikit-image
(32×32 grey, z_dim 16, random flips), encodes them into a z-store and
writes one HTML report with every analysis.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ._errors import LatentlabError

DEMO_SETTINGS = dict(image_size=32, channels=1, z_dim=16, filters=(32, 64, 64, 64), batch_size=10, lr=2e-3, loss="bce", augment_flip=True)
DEMO_EPOCHS = {"full": 120, "quick": 25}


@dataclass
class DemoResult:
    out_dir: Path
    model_dir: Path
    store: Path
    report: Path | None
    seconds: float


def default_demo_dir() -> Path:
    """``$LATENTLAB_DEMO_DIR`` or ``~/.cache/latentlab/demo``: where :func:`ensure_demo` keeps its build."""
    env = os.environ.get("LATENTLAB_DEMO_DIR")
    return Path(env) if env else Path.home() / ".cache" / "latentlab" / "demo"


def run_demo(
    out_dir: str | os.PathLike = "latentlab-demo",
    *,
    quick: bool = False,
    epochs: int | None = None,
    seed: int = 0,
    report: bool = True,
    overwrite: bool = False,
    log=None,
    on_epoch=None,
) -> DemoResult:
    """Train on the LFW faces, encode them, and build ``out_dir/report.html``.

    Parameters
    ----------
    out_dir : path-like
        Receives ``model/``, ``z.h5`` and ``report.html``.
    quick : bool
        Fewer epochs and smaller analysis settings (for CI and notebooks).
    epochs : int, optional
        Overrides the number of training epochs.
    report : bool
        Build the HTML report.
    overwrite : bool
        Replace a demo already in ``out_dir`` (``model/``, ``z.h5``,
        ``report.html``); without it an existing one is refused before
        anything is trained.
    log : callable, optional
        Called with progress messages.
    on_epoch : callable, optional
        Called after every training epoch as ``on_epoch(epoch, epochs, loss)``.
    """
    from .encoding import encode
    from .model import train
    from .sources import LFWSource

    from ._checks import check_int, check_output_dir

    log = log or (lambda msg: None)
    out = check_output_dir(out_dir)
    epochs = check_int(epochs, "--epochs", optional=True)
    model_dir, store = out / "model", out / "z.h5"
    existing = [p for p in (model_dir, store, out / "report.html") if os.path.lexists(p)]
    if existing and not overwrite:
        raise LatentlabError(f"--out {out}: already holds a demo ({', '.join(p.name for p in existing)}); "
                             "use --overwrite to replace it")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    n_epochs = epochs or DEMO_EPOCHS["quick" if quick else "full"]
    source = LFWSource()
    log(f"training a {DEMO_SETTINGS['image_size']}×{DEMO_SETTINGS['image_size']} autoencoder (z_dim {DEMO_SETTINGS['z_dim']}) "
        f"on {len(source)} LFW faces for {n_epochs} epochs …")
    train(source=source, out=model_dir, epochs=n_epochs, seed=seed, overwrite=overwrite, verbose=0, on_epoch=on_epoch,
          **DEMO_SETTINGS)
    log(f"encoding into {store} …")
    encode(model_dir, source=source, out=store, overwrite=overwrite)
    page = None
    if report:
        from .report import build_report

        log("building the report …")
        page = build_report(store, out, model_dir=model_dir, quick=quick, seed=seed, title="latentlab demo: 100 LFW faces",
                            progress=lambda name: log(f"  section {name}"))
    return DemoResult(out, model_dir, store, page, time.perf_counter() - t0)


def ensure_demo(out_dir: str | os.PathLike | None = None, *, quick: bool = True, report: bool = False) -> DemoResult:
    """Return the demo model and store, building them first if absent.

    Notebooks and tests call this to get a real z-store of encoded faces
    (``.store``) and the model that made it (``.model_dir``).
    """
    from .store import open_store

    out = Path(out_dir) if out_dir else default_demo_dir()
    model_dir, store = out / "model", out / "z.h5"
    try:
        with open_store(store):
            pass
        ready = (model_dir / "encoder.keras").is_file() and (model_dir / "decoder.keras").is_file()
    except LatentlabError:
        ready = False
    if not ready:  # absent or half-built: build it again
        return run_demo(out, quick=quick, report=report, overwrite=True)
    page = out / "report.html"
    return DemoResult(out, model_dir, store, page if page.exists() else None, 0.0)
