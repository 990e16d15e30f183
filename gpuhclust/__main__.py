"""``python -m gpuhclust``: the same command line as the ``gpuhclust`` script."""
from .cli import main

raise SystemExit(main())
