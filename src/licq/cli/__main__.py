"""``python -m licq.cli``: the licq command."""

import sys

from . import main

sys.exit(main())
