"""Sampling regions of latent space (scikit-learn-like samplers).

Each region has ``fit(Z)``, ``sample(n, random_state)``, ``contains(Z)``
(bounded regions) and ``score_samples(Z)`` (log-density, where defined).
:func:`make_region` builds one by name; :func:`fit_region` fits it on a z-store.
"""

from ._base import *  # noqa: F401,F403
from ._simple import *  # noqa: F401,F403
from ._ellipsoid import *  # noqa: F401,F403
from ._density import *  # noqa: F401,F403
from ._clusters import *  # noqa: F401,F403
from ._flow import *  # noqa: F401,F403
from ._flow_matching import *  # noqa: F401,F403
from ._progress import show_progress  # noqa: F401
from ._fragment import *  # noqa: F401,F403
from ._registry import *  # noqa: F401,F403
from ._io import *  # noqa: F401,F403
