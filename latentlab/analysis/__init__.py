"""Analyses of a z-point cloud, streamed from a z-store (no TensorFlow).

components → correlations → radii → PCA → fragments / filaments. Each is
registered in :data:`ANALYSES` (see :mod:`._contract` for what an analysis
declares and returns); :func:`run_analysis` runs one by name.
"""

from ._components import *  # noqa: F401,F403
from ._correlations import *  # noqa: F401,F403
from ._radii import *  # noqa: F401,F403
from ._pca import *  # noqa: F401,F403
from ._fragments import *  # noqa: F401,F403
from ._directions import *  # noqa: F401,F403
from ._contract import Analysis, AnalysisResult, Option, Table  # noqa: F401
from ._registry import ANALYSES, analyses, get_analysis, run_analysis  # noqa: F401
