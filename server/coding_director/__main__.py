"""``python -m coding_director`` runs the command-line interface (see :mod:`coding_director.cli`)."""

from coding_director.cli import main

raise SystemExit(main())
