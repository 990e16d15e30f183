"""``python -m gpuhclust``: the same command line as the ``gpuhclust`` script."""
from ._startup import ctrl_c_exits_quietly

with ctrl_c_exits_quietly(command_line=True):  # the command line's modules still import here
    from .cli import main

raise SystemExit(main())
