"""`python -m barctl` runs the command-line interface."""

from barctl.cli import main

raise SystemExit(main())
