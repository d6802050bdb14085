"""Analyses of a z-point cloud, streamed from a z-store (no TensorFlow).

components → correlations → radii → PCA → fragments / filaments.
"""

from ._components import *  # noqa: F401,F403
from ._correlations import *  # noqa: F401,F403
from ._radii import *  # noqa: F401,F403
from ._pca import *  # noqa: F401,F403
from ._fragments import *  # noqa: F401,F403
