"""`python -m basiss` runs the command-line tool."""

from basiss.cli import main

raise SystemExit(main())
