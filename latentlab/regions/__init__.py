"""Sampling regions of latent space (scikit-learn-like samplers).

Each region has ``fit(Z)``, ``sample(n, random_state)``, ``contains(Z)``
(bounded regions) and ``score_samples(Z)`` (log-density, where defined).
"""

from ._base import *  # noqa: F401,F403
