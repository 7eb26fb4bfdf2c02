"""``python -m licq``: the command-line tool."""

from .cli import main

raise SystemExit(main())
