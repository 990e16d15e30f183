"""Helpers shared by the command line's test modules (run ``gpuhclust.cli.main`` in-process,
read its summary, check the images it writes)."""
from __future__ import annotations

import os
import re

import matplotlib.image

from gpuhclust._compile_notice import _NOTICE
from gpuhclust.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path) -> None:
    assert os.path.isfile(path), f"{path} was not written"
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC, f"{path} is not a PNG"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    # A blank canvas would mean nothing was drawn.
    assert image[..., :3].std() > 0.01


def summary_sizes(out: str) -> list[int]:
    line = next(l for l in out.splitlines() if l.startswith("sizes:"))
    return [int(size) for _, size in re.findall(r"(\d+): (\d+)", line)]


def summary_value(out: str, key: str) -> str:
    line = next(l for l in out.splitlines() if l.startswith(key + ":"))
    return line.split(":", 1)[1].strip()


def run(capsys, *argv):
    """(exit code, stdout, stderr) of the command line on `argv`; stderr without the one-off
    compile notice, which a process prints where its first call compiles (whether a test's
    call is that one depends on the cache and on the tests before it in the process)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    err = "".join(line for line in captured.err.splitlines(keepends=True)
                  if line.rstrip("\n") != _NOTICE)
    return code, captured.out, err
