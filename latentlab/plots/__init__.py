"""Plot functions: one per figure.

Each takes data (or a result object) and an optional ``ax`` and returns the
matplotlib Figure. No analysis code plots; no plot function computes more
than it draws. Importing this package leaves matplotlib's backend alone
(matplotlib itself falls back to Agg where there is no display).
"""

from ._images import *  # noqa: F401,F403
from ._distributions import *  # noqa: F401,F403
from ._fragments import *  # noqa: F401,F403
from ._sampling import *  # noqa: F401,F403
from ._attributes import *  # noqa: F401,F403
