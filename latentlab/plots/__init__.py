"""Plot functions: one per figure.

Each takes data (or a result object) and an optional ``ax`` and returns the
matplotlib Figure. No analysis code plots; no plot function computes more
than it draws. Headless-safe: the Agg backend is used unless another was chosen.
"""

import matplotlib

if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
    try:
        import matplotlib.pyplot as _plt  # noqa: F401
    except Exception:  # pragma: no cover - no display
        matplotlib.use("Agg")

from ._images import *  # noqa: E402,F401,F403
from ._distributions import *  # noqa: E402,F401,F403
from ._fragments import *  # noqa: E402,F401,F403
from ._sampling import *  # noqa: E402,F401,F403
