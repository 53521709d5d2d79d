"""``python -m labkit.serving --engine ENGINE --model PATH_OR_ID``: see :mod:`labkit.serving.serve`."""
import sys

from labkit.serving.serve import main

sys.exit(main())
