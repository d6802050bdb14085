"""Sample-quality measures: on-data fraction, PRDC, re-encoding consistency, FID."""

from ._prdc import *  # noqa: F401,F403
