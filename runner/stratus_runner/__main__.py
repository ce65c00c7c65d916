"""``python -m stratus_runner``: the command of the Stratus project job definition."""

from stratus_runner import main

raise SystemExit(main())
