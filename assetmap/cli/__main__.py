"""``python -m assetmap.cli``: the command line."""

import sys

from assetmap.cli import main

sys.exit(main())
