"""The command line never destroys a file: an output that is the input or another output is
refused, each output is written whole or not at all, and Ctrl-C says what was completed."""
from __future__ import annotations

import os

import numpy as np
import pytest
from matplotlib.figure import Figure

from _cli_helpers import run


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A folder holding data.csv and data.npy (the same 30 observations), as the current
    folder so that relative spellings can be tried."""
    X = np.random.default_rng(3).normal(size=(30, 2))
    np.savetxt(tmp_path / "data.csv", X, delimiter=",", fmt="%.17g", header="x,y",
               comments="")
    np.save(tmp_path / "data.npy", X)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _snapshot(folder) -> dict:
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))
            if (folder / name).is_file()}


def _spell(folder, name: str, how: str) -> str:
    """Another name for `name` in `folder`: the same file, reached differently."""
    if how == "same":
        return name
    if how == "dot":
        return os.path.join(".", name)
    if how == "absolute":
        return str(folder / name)
    if how == "parent":
        return os.path.join("..", folder.name, name)
    if how == "symlink":
        os.symlink(name, folder / f"link-{name}")
        return f"link-{name}"
    if how == "hardlink":
        os.link(folder / name, folder / f"hard-{name}")
        return f"hard-{name}"
    raise AssertionError(how)


SPELLINGS = ["same", "dot", "absolute", "parent", "symlink", "hardlink"]


@pytest.mark.parametrize("how", SPELLINGS)
@pytest.mark.parametrize("input_name,option", [("data.csv", "--out"),
                                               ("data.npy", "--linkage-out")])
def test_output_that_is_the_input_is_refused(folder, capsys, how, input_name, option):
    target = _spell(folder, input_name, how)
    before = _snapshot(folder)
    code, out, err = run(capsys, "cluster", input_name, "--maxclust", 2, option, target)
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"gpuhclust: {option} {target} is the same file as the input")
    assert out == ""
    assert _snapshot(folder) == before  # nothing written, nothing created


@pytest.mark.parametrize("how", SPELLINGS)
@pytest.mark.parametrize("first,second", [("--out", "--linkage-out"),
                                          ("--plot", "--dendrogram")])
def test_two_outputs_that_are_one_file_are_refused(folder, capsys, how, first, second):
    name = "result.png" if first == "--plot" else "result.out"
    (folder / name).write_bytes(b"previous result")
    other = _spell(folder, name, how)
    before = _snapshot(folder)
    code, out, err = run(capsys, "cluster", "data.csv", "--maxclust", 2, first, name,
                         second, other)
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"gpuhclust: {second} {other} is the same file as {first}")
    assert _snapshot(folder) == before


def _interrupt_after_partial_write(f, *args, **kwargs):
    f.write(b"\x93NUMPY half an array")
    raise KeyboardInterrupt


@pytest.mark.parametrize("interrupted", ["--linkage-out", "--plot"])
def test_interrupt_while_writing_keeps_the_previous_file(folder, capsys, monkeypatch,
                                                         interrupted):
    (folder / "old.npy").write_bytes(b"the previous, good Z")
    (folder / "old.png").write_bytes(b"the previous, good plot")
    if interrupted == "--linkage-out":
        monkeypatch.setattr(np, "save", _interrupt_after_partial_write)
    else:
        monkeypatch.setattr(Figure, "savefig",
                            lambda self, f, **kw: _interrupt_after_partial_write(f))
    code, out, err = run(capsys, "cluster", "data.csv", "--maxclust", 2, "--out", "labels.csv",
                         "--linkage-out", "old.npy", "--plot", "old.png")
    assert code == 130
    assert len(err.splitlines()) == 1, err
    completed = ["labels.csv"] + (["old.npy"] if interrupted == "--plot" else [])
    assert err == f"gpuhclust: interrupted; completed before it: {', '.join(completed)}\n"
    assert (folder / "old.png").read_bytes() == b"the previous, good plot"
    if interrupted == "--linkage-out":
        assert (folder / "old.npy").read_bytes() == b"the previous, good Z"
    else:
        assert np.load(folder / "old.npy").shape == (29, 4)
    assert (folder / "labels.csv").read_text().splitlines()[0] == "label"
    assert len((folder / "labels.csv").read_text().splitlines()) == 31
    # The temporary file of the interrupted output is gone.
    assert sorted(os.listdir(folder)) == ["data.csv", "data.npy", "labels.csv", "old.npy",
                                          "old.png"]


def test_output_through_a_symlink_replaces_its_target(folder, capsys):
    (folder / "results").mkdir()
    (folder / "results" / "labels.csv").write_text("old\n")
    os.symlink(os.path.join("results", "labels.csv"), folder / "labels-link.csv")
    os.chmod(folder / "results" / "labels.csv", 0o640)
    code, _, err = run(capsys, "cluster", "data.csv", "--maxclust", 2, "--out",
                       "labels-link.csv")
    assert code == 0, err
    assert os.path.islink(folder / "labels-link.csv")
    assert (folder / "results" / "labels.csv").read_text().startswith("label\n")
    assert os.stat(folder / "results" / "labels.csv").st_mode & 0o777 == 0o640


# A process that runs the installed ``gpuhclust`` entry point exactly as its console script
# does, with an import hook that sends the process SIGINT the moment `MODULE` is first
# imported: a Ctrl-C during start-up, at a deterministic point.
_CTRL_C_DURING_IMPORT = """
import importlib.metadata, os, signal, sys

signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal (see below)

class CtrlC:
    def __init__(self, module):
        self.module = module

    def find_spec(self, name, path=None, target=None):
        if name == self.module:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)  # handled before kill returns
        return None

sys.meta_path.insert(0, CtrlC(sys.argv[1]))
sys.argv = ["gpuhclust", "--version"]
entry, = importlib.metadata.entry_points(group="console_scripts", name="gpuhclust")
sys.exit(entry.load()())
"""


# The same hook for ``python -m gpuhclust``, installed by a ``sitecustomize`` module (imported at
# interpreter start-up, before ``-m`` imports the package). Both first give SIGINT Python's
# default handler, as a process started at a terminal has it: one started by a test runner that
# was itself started in the background inherits SIGINT ignored, and then no Ctrl-C arrives.
_CTRL_C_HOOK = """
import os, signal, sys

signal.signal(signal.SIGINT, signal.default_int_handler)

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["CTRL_C_AT"]:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
"""


@pytest.mark.parametrize("route", ["gpuhclust", "python -m gpuhclust"])
@pytest.mark.parametrize("module", ["numpy", "scipy", "gpuhclust.cli"])  # no Numba at start-up
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(module, route, tmp_path):
    import subprocess
    import sys

    if route == "gpuhclust":
        command, env = [sys.executable, "-c", _CTRL_C_DURING_IMPORT, module], None
    else:
        (tmp_path / "sitecustomize.py").write_text(_CTRL_C_HOOK)
        command = [sys.executable, "-m", "gpuhclust", "--version"]
        env = {**os.environ, "CTRL_C_AT": module,
               "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "gpuhclust: interrupted\n"
    assert proc.stdout == ""
