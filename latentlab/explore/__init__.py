"""An interactive map of the z-cloud in the browser: hover, click to decode, lasso to sample.

:func:`explore` shows it inline in Jupyter; ``latentlab explore Z.h5`` serves it
(a Bokeh server on 127.0.0.1). :func:`export_projector` and
:func:`export_parquet` write the files other embedding viewers read.
Without a model nothing here imports TensorFlow.
"""

import signal
import sys as _sys
import types as _types

from ._data import ColourField, Decoded, ExploreData, SelectionSamples, load_explore_data, png_data_url
from ._app import MAX_GLYPHS, ExploreApp
from ._server import check_port, make_server
from ._export import export_parquet, export_projector

__all__ = [
    "ColourField",
    "Decoded",
    "ExploreApp",
    "ExploreData",
    "SelectionSamples",
    "check_port",
    "explore",
    "export_parquet",
    "export_projector",
    "load_explore_data",
    "make_server",
    "png_data_url",
    "serve",
]


def explore(store, model=None, *, encoder=None, decoder=None, autoencoder=None, fragments=None, out_dir=None,
            notebook_url: str = "localhost:8888", max_glyphs: int = MAX_GLYPHS):
    """Show the explorer inline in a Jupyter notebook; returns the :class:`ExploreApp`.

    Parameters
    ----------
    store : path-like
        z-store (read-only).
    model : path-like, optional
        Model directory; or ``encoder`` + ``decoder`` ``.keras`` files, or a loaded ``autoencoder``.
    fragments : path-like, optional
        ``fragments.h5`` (adds fragment colouring and the fragment region).
    out_dir : path-like, optional
        Where "Save" writes selections.
    notebook_url : str
        Address of the Jupyter server (Bokeh embeds the app from a server in the kernel).
    max_glyphs : int, default 10,000
        A view holding more points is shown as one image rendered on the server
        (see :class:`ExploreApp`); fewer are drawn as points.

    Examples
    --------
    >>> import latentlab
    >>> app = latentlab.explore("z.h5", "model")       # doctest: +SKIP
    >>> app.last_samples.z.shape                        # doctest: +SKIP
    """
    from bokeh.io import output_notebook, show
    from bokeh.resources import INLINE

    data = load_explore_data(store, model_dir=model, encoder=encoder, decoder=decoder, autoencoder=autoencoder,
                             fragments=fragments)
    app = ExploreApp(data, out_dir=out_dir, max_glyphs=max_glyphs)
    output_notebook(resources=INLINE, hide_banner=True)  # BokehJS from the package: no CDN
    show(app.modify_doc, notebook_url=notebook_url)
    return app


def serve(store, model=None, *, encoder=None, decoder=None, autoencoder=None, fragments=None, out_dir=None,
          port: int = 5006, host: str = "127.0.0.1", on_ready=None, max_glyphs: int = MAX_GLYPHS,
          allow_remote: bool = False) -> None:
    """Serve the explorer until Ctrl-C or SIGTERM (what ``latentlab explore`` runs).

    The host and port are checked before anything is loaded; ``on_ready(url)`` is
    called once the server listens. A ``host`` other than loopback needs
    ``allow_remote=True``; the URL then carries the access token (see
    :func:`make_server`).
    """
    check_port(port, host, allow_remote=allow_remote)
    data = load_explore_data(store, model_dir=model, encoder=encoder, decoder=decoder, autoencoder=autoencoder,
                             fragments=fragments)
    server = make_server(ExploreApp(data, out_dir=out_dir, max_glyphs=max_glyphs), port=port, host=host,
                         allow_remote=allow_remote)
    if on_ready is not None:
        on_ready(server.latentlab_url)
    loop = server.io_loop.asyncio_loop
    received = []

    def stop(sig):
        received.append(sig)
        server.io_loop.stop()

    try:
        # Ctrl-C / SIGTERM stop the loop between callbacks: a KeyboardInterrupt raised at a random point
        # inside Tornado can be swallowed by a request handler and leave the server running
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop, sig)
        handled = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signal support
        handled = False
    try:
        server.io_loop.start()
    finally:
        if handled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        server.stop()
    if signal.SIGTERM in received:  # the CLI says "terminated" and exits 143, as every command does
        from .._errors import Terminated

        raise Terminated()


class _CallableModule(_types.ModuleType):
    """``latentlab.explore(store, model)`` calls :func:`explore`; ``latentlab.explore.X`` still names this package."""

    def __call__(self, *args, **kwargs):
        return explore(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
