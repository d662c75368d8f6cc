"""python -m qorgau: the `qorgau` command."""

from qorgau.cli import main

raise SystemExit(main())
