"""``python -m tests.mutation``: the entry point behind ``ci/mutation``."""

from .runner import main

raise SystemExit(main())
