"""Numba's cache of gpuhclust's kernels follows the modules they import (gpuhclust._numba_cache)."""
from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numba.core.caching as caching
import pytest

import gpuhclust

from gpuhclust import _numba_cache

# A package of four modules: b reads a's constant into a cached kernel, d imports b, c stands
# alone.
MODULES = {
    "__init__.py": "",
    "a.py": "N = 3\n",
    "b.py": """
        import numba

        from .a import N


        @numba.njit(cache=True)
        def f():
            return N
        """,
    "c.py": "M = 1\n",
    "d.py": "from . import b\n",
    # an import inside a function counts; one of a file that does not parse, nothing
    "e.py": """
        def make():
            from .c import M
            return M
        """,
    "f.py": "from .a import N\nfrom .broken import X\n",
    # a name from the package's __init__ (not a submodule): the __init__ counts
    "h.py": "from . import X\n",
    # newer syntax behind a version check: the file is read line by line
    "k.py": "import sys\nif sys.version_info >= (9, 0): from .c import M\ntype T = int\n",
    # a comment's parenthesis in a parenthesised list; imports after a block's colon
    "m.py": ("from . import (  # see f)\n    c,\n)\ntry: from .a import N\n"
             "except ImportError: from . import d\n"),
    # a comment's parenthesis: the statement does not parse alone, its words still count
    "g.py": "from .c import (M,  # the (first\n                 M as M2)\n",
    "broken.py": "def (:\n",
}


def _package(root: Path) -> Path:
    package = root / "pkgx"
    package.mkdir()
    for name, text in MODULES.items():
        (package / name).write_text(textwrap.dedent(text))
    return package


@pytest.fixture
def package(tmp_path, monkeypatch):
    package = _package(tmp_path)
    monkeypatch.setattr(_numba_cache, "PACKAGE", str(package))
    return package


def test_imported_modules_follow_the_imports_transitively(package):
    names = lambda path: [os.path.basename(p)
                          for p in _numba_cache.imported_modules(package / path)]
    assert names("b.py") == ["a.py", "b.py"]
    assert names("d.py") == ["a.py", "b.py", "d.py"]  # b is a submodule: no __init__
    assert names("h.py") == ["__init__.py", "h.py"]
    assert names("k.py") == ["c.py", "k.py"]
    assert names("c.py") == ["c.py"]
    assert names("e.py") == ["c.py", "e.py"]
    assert names("f.py") == ["a.py", "broken.py", "f.py"]
    assert names("g.py") == ["c.py", "g.py"]
    assert names("m.py") == ["a.py", "b.py", "c.py", "d.py", "m.py"]


def test_the_stamp_moves_with_an_imported_module_only(package):
    before = _numba_cache.source_stamp(package / "b.py")
    (package / "c.py").write_text("M = 22\n")
    assert _numba_cache.source_stamp(package / "b.py") == before
    (package / "a.py").write_text("N = 44\n")  # another length: mtimes may be coarse
    assert _numba_cache.source_stamp(package / "b.py") != before
    before = _numba_cache.source_stamp(package / "f.py")
    (package / "broken.py").write_text("def (::\n")
    assert _numba_cache.source_stamp(package / "f.py") != before


def _cached_kernels():
    """Every dispatcher with an on-disk cache in gpuhclust's modules (all imported)."""
    for info in pkgutil.walk_packages(gpuhclust.__path__, "gpuhclust."):
        if info.name.endswith("__main__"):  # runs the command line
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional dependency (CuPy, Dask) missing
            continue
        for value in vars(module).values():
            cache = getattr(value, "_cache", None)
            if value.__class__.__name__.endswith("Dispatcher") and hasattr(cache, "_impl"):
                yield info.name, value, cache


def test_gpuhclust_kernels_get_the_package_locator():
    """Every cached kernel, in every module (a module whose kernels were defined before
    ``install`` ran would keep Numba's locator), and the stamp of its module."""
    from gpuhclust import _finalise

    _finalise.compiled_label()
    kernels = list(_cached_kernels())
    assert len(kernels) > 50
    for name, kernel, cache in kernels:
        locator = cache._impl.locator
        assert type(locator).__name__.startswith("Package"), (name, kernel)
        assert locator.get_source_stamp() == _numba_cache.source_stamp(
            kernel.py_func.__code__.co_filename)
    label = _finalise.compiled_label()._cache._impl.locator
    assert type(label).__name__.startswith("Package")
    assert caching.CacheImpl._locator_classes[:3] == list(_numba_cache._LOCATORS)
    assert _numba_cache.install()  # once only
    assert caching.CacheImpl._locator_classes.count(_numba_cache._LOCATORS[0]) == 1


RUN = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
if {hook}:
    from gpuhclust import _numba_cache
    _numba_cache.PACKAGE = str(Path({root!r}) / "pkgx")
    _numba_cache.install()
from pkgx import b
print(b.f())
"""


def _value(root: Path, hook: bool) -> int:
    res = subprocess.run([sys.executable, "-c", RUN.format(root=str(root), hook=hook)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return int(res.stdout.split()[-1])


@pytest.mark.parametrize("hook", [True, False])
def test_a_cached_kernel_sees_a_changed_constant(tmp_path, hook):
    """With the package's locators a kernel compiled and cached with a's N = 3 is compiled
    again once a says N = 4; with Numba's own it keeps 3 (the stale cache this guards
    against: should a Numba release follow imports itself, numba/numba#8396, that case
    fails, and this module can go)."""
    package = _package(tmp_path)
    assert _value(tmp_path, hook) == 3
    assert list((package / "__pycache__").glob("b.f-*.nbi"))
    (package / "a.py").write_text("N = 4\n")
    assert _value(tmp_path, hook) == (4 if hook else 3)


FIRST = """
import importlib, sys
module = importlib.import_module(sys.argv[1])
names = {type(v._cache._impl.locator).__name__ for v in vars(module).values()
         if v.__class__.__name__.endswith("Dispatcher") and hasattr(getattr(v, "_cache", None), "_impl")}
print(" ".join(sorted(names)))
"""


@pytest.mark.slow
def test_each_kernel_module_imported_first_gets_the_package_locator():
    """A module's kernels get the package's locator even when it is the first gpuhclust
    module a process imports (``install`` runs before they are defined)."""
    modules = sorted({name for name, _, _ in _cached_kernels()})
    assert "gpuhclust.dask._boruvka" in modules
    for name in modules:
        res = subprocess.run([sys.executable, "-c", FIRST, name], capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        assert res.stdout.split() and all(
            n.startswith("Package") for n in res.stdout.split()), (name, res.stdout)
