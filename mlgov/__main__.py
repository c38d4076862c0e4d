"""`python -m mlgov`: the same CLI as the `mlgov` entry point."""

from mlgov.cli import main

raise SystemExit(main())
