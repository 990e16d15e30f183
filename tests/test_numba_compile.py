"""First-run compilation: announced once, cached for the next process, one variant per type.

Compile time is what a newcomer waits for on the first call (benchmarks/cold_start.py measures
it); these tests keep the properties that bound it.
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import weakref

import numba
import numpy as np
import pytest
from numba.core import types
from numba.core.registry import CPUDispatcher

import gpuhclust
from gpuhclust._engines import VECTOR_METHODS
from gpuhclust._metrics import METRIC_CODES

CHILD = """
import sys
import numpy as np
import gpuhclust
from gpuhclust import _compile_notice
X = np.random.default_rng(0).normal(size=(40, 3))
gpuhclust.linkage(X, "complete", backend="cpu")
gpuhclust.linkage(X, "complete", backend="cpu")
print(_compile_notice.compile_seconds())
"""


def _child(cache_dir) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                          check=True, env={**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)})


@pytest.mark.slow
def test_first_run_announces_compilation_once_and_the_next_process_loads_the_cache(tmp_path):
    cold = _child(tmp_path)
    assert cold.stderr.count("compiling the CPU code") == 1, cold.stderr
    assert float(cold.stdout) > 0
    warm = _child(tmp_path)  # same cache: a function left uncached would compile again
    assert "compiling" not in warm.stderr, warm.stderr
    assert float(warm.stdout) == 0.0


def test_kernels_compile_one_variant_per_argument_type():
    """Read-only arrays, unsigned loop indices and integer constants are types of their own
    for Numba: passing both kinds to one function compiles its whole call tree twice (seconds
    of a newcomer's first call)."""
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(c, 0.3, size=(20, 3)) for c in (0.0, 4.0)])
    X.flags.writeable = False  # the caller's array may be read-only: the kernels never see it
    for method in gpuhclust.METHODS:
        gpuhclust.linkage(X, method, backend="cpu")
        gpuhclust.linkage(gpuhclust.pdist(X), method, backend="cpu")
    for method in VECTOR_METHODS:  # shares the distance kernels with the matrix engine
        gpuhclust.linkage(X, method, backend="cpu", engine="vector")
    offenders = []
    for obj in gc.get_objects():
        if type(obj) in weakref.ProxyTypes:  # isinstance would dereference a dead proxy
            continue
        if isinstance(obj, CPUDispatcher) and obj.py_func.__module__.startswith("gpuhclust"):
            name = f"{obj.py_func.__module__}.{obj.py_func.__name__}"
            kinds = {tuple(t if k == PER_CODE.get(name) else _plain(t)
                           for k, t in enumerate(sig)) for sig in obj.signatures}
            if len(kinds) < len(obj.signatures):
                offenders.append(f"{obj.py_func.__module__}.{obj.py_func.__name__}: "
                                 + " | ".join(map(str, obj.signatures)))
    assert not offenders, "\n".join(offenders)


# The drivers between the host's entry points (``_distances.for_metric``, ``_mst``, the Dask
# shard) and the kernels that branch on the metric, with the position of their metric code.
METRIC_DRIVERS = {"_distances": {"block_distances": 0, "_condensed_rows": 3,
                                 "_square_column_block": 4, "square_rows": 5,
                                 "_condensed_distances": 1, "_square_from_observations": 1},
                  "_mst": {"_relax_block_range": 4, "_relax_parallel": 4}}
# Compiled once per method or metric code on purpose (name: the position of the code): the code
# is a literal there, so each method's loop has no branch on it per element, and each metric
# compiles its own arithmetic only.
PER_CODE = {"gpuhclust.cpu._lance_williams._simple_loop": 0,
            "gpuhclust.cpu._lance_williams._squared_loop": 0,
            "gpuhclust.dask._shard._fill_rows": 3}
PER_CODE.update({f"gpuhclust.cpu.{module}.{name}": position
                 for module, drivers in METRIC_DRIVERS.items()
                 for name, position in drivers.items()})


def _plain(numba_type) -> str:
    """The type with the distinctions that should not cause a compilation of their own
    removed: read-only arrays, unsigned loop indices, integer constants typed as literals."""
    text = str(numba_type).replace("readonly ", "")
    if text == "uint64" or text.startswith("Literal[int]"):
        return "int64"
    return text


EVERY_METHOD = """
import numpy as np
import gpuhclust
from gpuhclust import _compile_notice
from gpuhclust.cpu._mst import PARALLEL_MIN
X = np.random.default_rng(1).normal(size=(700, 3))
for method in gpuhclust.METHODS:
    gpuhclust.linkage(X, method, backend="cpu")
    gpuhclust.linkage(gpuhclust.pdist(X), method, backend="cpu")
gpuhclust.linkage(gpuhclust.pdist(X).astype(np.float32), "complete", backend="cpu")
# enough candidates for the minimum spanning tree's parallel relaxation
many = np.random.default_rng(2).normal(size=(PARALLEL_MIN + 100, 3))
gpuhclust.linkage(many, "single", backend="cpu", engine="vector")
print(_compile_notice.compile_seconds())
"""


@pytest.mark.slow
def test_warmup_command_compiles_what_every_method_needs(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    warm = subprocess.run([sys.executable, "-m", "gpuhclust", "warmup"], capture_output=True,
                          text=True, check=True, env=env)
    assert "compiled in" in warm.stdout, warm.stdout
    after = subprocess.run([sys.executable, "-c", EVERY_METHOD], capture_output=True,
                           text=True, check=True, env=env)
    assert float(after.stdout) == 0.0, after.stderr


def test_reported_linkage_time_leaves_compilation_out(monkeypatch):
    """The command line's "time ... (linkage)" is the timed call less what Numba compiled
    during it (the warm-up on 8 points does not reach every kernel)."""
    from types import SimpleNamespace

    from gpuhclust import _compile_notice, _demo

    clock = iter([100.0, 105.0])
    monkeypatch.setattr(_demo, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    monkeypatch.setattr(_compile_notice._WATCH, "seconds", 1.0)

    def compiling_linkage(X, method, **kwargs):
        _compile_notice._WATCH.seconds += 3.0  # a kernel compiled during the timed call
        return np.zeros((len(X) - 1, 4))

    monkeypatch.setattr(gpuhclust, "linkage", compiling_linkage)
    run = _demo.timed_linkage(np.zeros((3, 2)), "single", backend="cpu", warm_up=False)
    assert run.seconds == 2.0


def test_importing_the_package_leaves_numba_and_the_backends_for_first_use():
    """``import gpuhclust`` (the command line's --help, a script that only plots) pays for
    neither Numba nor the backends' modules; a first linkage on small input (backend 'auto'
    without a GPU: backend 'numpy') does not import Numba either; the CPU backend does, and
    'auto' then uses it."""
    code = ("import sys, numpy as np, gpuhclust\n"
            "def loaded(): return sorted(m for m in sys.modules if m == 'numba' or "
            "m.startswith(('gpuhclust.cpu', 'gpuhclust.cuda.backend')))\n"
            "before = loaded()\n"
            "for method in gpuhclust.METHODS: gpuhclust.linkage(np.arange(8.0).reshape(4, 2), "
            "method)\n"
            "small = loaded()\n"
            "gpuhclust.linkage(np.arange(8.0).reshape(4, 2), 'ward', backend='cpu')\n"
            "gpuhclust.linkage(np.arange(8.0).reshape(4, 2), 'ward')\n"
            "print(before, small, 'numba' in sys.modules, "
            "gpuhclust._linkage.last_plan().backend.name)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    if out[1] != "[]":
        from gpuhclust.cuda._context import cuda_unusable_reason

        if not cuda_unusable_reason():
            pytest.skip("CUDA is usable here: 'auto' picks it")
    assert out == ["[]", "[]", "True", "cpu"], out


def test_auto_leaves_the_cuda_backend_unimported_where_cuda_cannot_run():
    """Where CuPy or the driver is missing, backend='auto' learns it from the light probe in
    ``gpuhclust.cuda._context`` and never imports the CUDA backend's modules."""
    from gpuhclust.cuda._context import cuda_unusable_reason

    if not cuda_unusable_reason():
        pytest.skip("CUDA is usable here: 'auto' picks it")
    code = ("import sys, numpy as np, gpuhclust\n"
            "gpuhclust.linkage(np.arange(6.0).reshape(3, 2), 'average')\n"
            "print('gpuhclust.cuda.backend' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False"], out


# -- one metric compiled at a time ------------------------------------------------------------
def test_metric_kernels_refuse_a_run_time_code():
    """A kernel reached with a run-time code is a typing error, not a silent compilation of
    every metric."""
    from numba.core.errors import TypingError

    from gpuhclust.cpu._distances import pair_distance

    @numba.njit
    def with_run_time_code(code, X):
        return pair_distance(code, X, 0, X, 1, 2.0, 0.0, 0.0, X[0], X)

    with pytest.raises(TypingError, match="must be a compile-time constant"):
        with_run_time_code(METRIC_CODES["cityblock"], np.zeros((2, 2)))


COMPILED_FOR_A_METRIC = """
import json, sys
import numpy as np
from numba.core import event
import gpuhclust

compiled = []

class Compiles(event.Listener):
    def on_start(self, ev):
        f = getattr(ev.data.get("dispatcher"), "py_func", None)
        if f is not None and f.__module__.startswith("gpuhclust"):
            cells = dict(zip(f.__code__.co_freevars, f.__closure__ or ()))
            metric = cells["metric"].cell_contents if "metric" in cells else None
            compiled.append([f.__module__, f.__name__, [str(t) for t in ev.data["args"]],
                             metric])

    def on_end(self, ev):
        pass

event.register("numba:compile", Compiles())
X = np.random.default_rng(0).normal(size=(60, 3))
gpuhclust.pdist(X, metric=sys.argv[1], backend="cpu")
gpuhclust.linkage(X, "average", metric=sys.argv[1], backend="cpu")
gpuhclust.linkage(X, "single", metric=sys.argv[1], backend="cpu", engine="vector")
print(json.dumps(compiled))
"""


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["cityblock", "euclidean"])
def test_a_fresh_install_compiles_the_metric_in_use_only(tmp_path, metric):
    """In a new process with an empty cache, computing distances of one metric (pdist, the
    square matrix, the minimum spanning tree from the observations) compiles that metric's
    kernels and no other's: the drivers above them get the metric code as a literal (an int64
    code would compile every metric's loops for the one in use)."""
    out = subprocess.run([sys.executable, "-c", COMPILED_FOR_A_METRIC, metric],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)})
    compiled = json.loads(out.stdout.strip().splitlines()[-1])
    kernels = [(name, code) for _, name, _, code in compiled if name.endswith("_of_metric")]
    # the scans of the Euclidean minimum spanning tree compute squared distances
    codes = {METRIC_CODES[metric]} | ({METRIC_CODES["sqeuclidean"]} if metric == "euclidean"
                                      else set())
    assert kernels and {code for _, code in kernels} == codes, kernels
    drivers = {f"gpuhclust.cpu.{module}.{name}": position
               for module, names in METRIC_DRIVERS.items() for name, position in names.items()}
    seen = set()
    for module, name, args, _ in compiled:
        position = drivers.get(f"{module}.{name}")
        if position is not None:
            assert args[position].startswith("Literal[int]("), (name, args)
            seen.add(name)
    # the parallel relaxation only runs (and compiles) from PARALLEL_MIN observations on
    assert seen == set().union(*METRIC_DRIVERS.values()) - {"_relax_parallel"}
