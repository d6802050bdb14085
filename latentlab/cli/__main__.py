"""``python -m latentlab.cli``: the same as the ``latentlab`` console script."""

from . import main

main()
