"""``python -m noorm``: the same as the ``noorm`` command."""

from .cli import main

raise SystemExit(main())
