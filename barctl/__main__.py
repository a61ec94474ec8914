"""`python -m barctl` runs the command-line interface."""

from barctl.console.cli import main

raise SystemExit(main())
