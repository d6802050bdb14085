"""Sample-quality measures: on-data fraction, PRDC, re-encoding consistency, FID,
and :func:`compare_samplers`, which runs them all for every region."""

from ._prdc import *  # noqa: F401,F403
from ._model import *  # noqa: F401,F403
from ._compare import *  # noqa: F401,F403
from ._memorisation import *  # noqa: F401,F403
