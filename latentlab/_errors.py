"""Errors that latentlab reports to users as one line, not a traceback."""


class LatentlabError(ValueError):
    """A problem with the user's input (file, argument, data) rather than a bug.

    The CLI prints ``error: <message>`` and exits with :attr:`exit_code`.
    The message names the file or argument and the problem, on one line.
    It is a ``ValueError``, so tools that catch bad parameters that way
    (scikit-learn's estimator checks, ``pytest.raises(ValueError)``) do.
    """

    exit_code = 2


class StoreError(LatentlabError):
    """A z-store file is missing, unreadable, malformed or incomplete."""


class ModelError(LatentlabError):
    """A model directory or ``.keras`` file is missing, unreadable or mismatched."""


class DataSourceError(LatentlabError):
    """An image source is missing, empty or malformed."""


class StrictModeError(LatentlabError):
    """Images were skipped while ``strict=True`` was requested (exit 1)."""

    exit_code = 1


class Terminated(BaseException):
    """The process received SIGTERM (a scheduler, ``timeout``, ``kill``).

    Raised in the main thread by the CLI's handler so that every ``finally`` and
    every temporary-file cleanup runs; the CLI then prints one line and exits 143.
    A ``BaseException``, like ``KeyboardInterrupt``: ``except Exception`` must not
    swallow it.
    """
