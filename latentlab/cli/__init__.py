"""The ``latentlab`` command line: a thin shell over the Python API.

Each command parses arguments, calls one API function and prints. User
errors (:class:`~latentlab.LatentlabError`) become one line on stderr and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import sys

import typer

try:  # typer >= 0.26 ships its own copy of click
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as _click_exc

from .._errors import LatentlabError
from ._app import app

# Each module registers its commands on `app`; none imports TensorFlow at import time.
from . import _foundation  # noqa: E402,F401  train, encode, info, demo, merge
from . import _analysis  # noqa: E402,F401  components, correlations, radii, pca, report
from . import _fragments  # noqa: E402,F401  fragments
from . import _sampling  # noqa: E402,F401  sample, path, interpolate, reconstruct, compare-samplers
from . import _explore  # noqa: E402,F401  explore, export

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and, as a console script, exits with) the exit code."""
    try:
        result = app(args=argv, prog_name="latentlab", standalone_mode=False)
    except LatentlabError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = exc.exit_code
    except _click_exc.UsageError as exc:
        exc.show()
        code = 2
    except _click_exc.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except _click_exc.Abort:
        typer.echo("aborted", err=True)
        code = 130
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        code = 130
    else:
        code = result if isinstance(result, int) else 0
    if argv is None:
        sys.exit(code)
    return code
