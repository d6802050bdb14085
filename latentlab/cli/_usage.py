"""Usage errors (unknown option, missing value, bad type) as one ``error:`` line, like every other failure."""

from __future__ import annotations


def usage_error_line(exc) -> str | None:
    """``error: <click's message>; see `latentlab CMD --help``` — or None for ``latentlab`` alone (show the help).

    Click prints a usage block, a hint and the message on four lines; scripts
    and people read the one line every other latentlab error has.
    """
    if type(exc).__name__ == "NoArgsIsHelpError":
        return None
    message = " ".join(str(exc.format_message()).split()).rstrip(".")
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or "latentlab"
    return f"error: {message}; see `{command} --help`"
