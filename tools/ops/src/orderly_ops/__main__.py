"""``python -m orderly_ops``."""

from orderly_ops.cli import main

raise SystemExit(main())
