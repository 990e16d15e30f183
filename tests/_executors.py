"""The executors a parity test runs on (the ``executor`` fixture of conftest.py, in the
spirit of SciPy's ``xp``): each way gpuhclust computes Z, what it takes, and the executor whose
Z it must give bit for bit."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import gpuhclust
from _helpers import REDUCIBLE, ROUNDS_METHODS, VECTOR_METHODS, gpu_backend, require_simulator, \
    sim_backend


@dataclass(frozen=True)
class ExecutorSpec:
    """One way to compute Z, and what it takes.

    Attributes
    ----------
    name : str
        The test id.
    backend : str
        'cpu', 'numpy', 'sim' (the CUDA backend on the kernel simulator), 'gpu' or 'dask'.
    engine : str
        'matrix' or 'vector' (``linkage(..., engine=)``).
    schedule : str
        The simulator's thread order (backend 'sim').
    shard_compute : str
        What the Dask shards compute with (backend 'dask').
    methods : tuple of str
        The methods it computes.
    kinds : tuple of str
        'observations' and/or 'condensed'.
    sizes : tuple of int
        Tie-free observation counts to compare with SciPy (the simulator's are few and small:
        each simulated merge costs milliseconds).
    reference : str
        The executor whose Z this one gives bit for bit, ties included (None: SciPy's only).
    unreferenced : tuple of str
        Methods it computes otherwise than its reference (SciPy's Z on tie-free data only).
    scipy_algorithm : bool
        ``algorithm='scipy'`` runs SciPy's sequential algorithm, whose Z is SciPy's on ties too.
    ties_n : int
        The observation count of the tied data (integer coordinates).
    tie_seeds : tuple of int
        The seeds of the tied data.
    metric_methods : tuple of str
        The methods the metric tests run (each metric is one compiled function, whatever the
        method: a few methods suffice).
    slow : bool
        Its cases run in the slow lane only (``pytest -m slow``; .ci/run runs both lanes).
    metric_cases : tuple of str or None
        The cases of ``METRICS`` it computes (None: all its engine computes; the boolean
        metrics too).
    float32 : bool
        It stores distances in float32 on request.
    """

    name: str
    backend: str
    engine: str = "matrix"
    schedule: str | None = None
    shard_compute: str | None = None
    methods: tuple = tuple(gpuhclust.METHODS)
    kinds: tuple = ("observations", "condensed")
    sizes: tuple = (2, 3)
    reference: str | None = None
    unreferenced: tuple = ()
    scipy_algorithm: bool = False
    ties_n: int = 40
    tie_seeds: tuple = (1,)
    metric_methods: tuple = ("single", "average")
    slow: bool = False
    metric_cases: tuple | None = None
    float32: bool = True

    @property
    def marks(self):
        on_gpu = self.backend == "gpu" or self.shard_compute == "cuda"
        return [pytest.mark.gpu] * on_gpu + [pytest.mark.slow] * self.slow

    @property
    def metrics(self) -> tuple:
        """The cases of ``METRICS`` it computes (the vector engine computes the distances
        itself, with the compiled metrics only)."""
        return tuple(m for m in METRICS if (self.engine == "matrix" or METRICS[m][2])
                     and (self.metric_cases is None or m in self.metric_cases))


def _root_cityblock(u, v):
    return np.abs(u - v).sum() ** 0.5


#: metric cases: id -> (metric, kwargs, compiled: the vector engine computes it)
METRICS = {
    "euclidean": ("euclidean", {}, True), "sqeuclidean": ("sqeuclidean", {}, True),
    "cityblock": ("cityblock", {}, True), "chebyshev": ("chebyshev", {}, True),
    "minkowski-p3": ("minkowski", {"p": 3.0}, True), "cosine": ("cosine", {}, True),
    "correlation": ("correlation", {}, True), "canberra": ("canberra", {}, True),
    "braycurtis": ("braycurtis", {}, True), "seuclidean": ("seuclidean", {}, True),
    "mahalanobis": ("mahalanobis", {}, True), "jensenshannon": ("jensenshannon", {}, False),
    "minkowski-weighted": ("minkowski", {"p": 1.5, "w": np.linspace(0.5, 2, 7)}, False),
    "callable": (_root_cityblock, {}, False),
}
#: boolean metrics (data with many equal distances)
BOOLEAN_METRICS = ("hamming", "jaccard", "dice", "rogerstanimoto", "russellrao", "sokalsneath",
                   "yule")

_VECTOR = dict(engine="vector", methods=VECTOR_METHODS, kinds=("observations",),
               metric_methods=("single",))

EXECUTORS = (
    ExecutorSpec("cpu-matrix", "cpu", sizes=(2, 3, 17, 150), scipy_algorithm=True, ties_n=150,
                 tie_seeds=(1, 2, 3),
                 metric_methods=("single", "complete", "average", "weighted")),
    # NumPy alone, for small input: the CPU backend's Z bit for bit
    ExecutorSpec("numpy", "numpy", sizes=(2, 3, 17, 150), reference="cpu-matrix", ties_n=150,
                 tie_seeds=(1, 2, 3),
                 metric_methods=("single", "complete", "average", "weighted"),
                 metric_cases=("euclidean", "sqeuclidean", "cityblock", "chebyshev",
                               "jensenshannon", "minkowski-weighted", "callable"),
                 float32=False),
    ExecutorSpec("cpu-vector", "cpu", sizes=(2, 3, 17, 150), ties_n=150, tie_seeds=(1, 2, 3),
                 **_VECTOR),
    ExecutorSpec("sim-forward", "sim", schedule="forward", sizes=(2, 45),
                 reference="cpu-matrix", scipy_algorithm=True, tie_seeds=(2,)),
    ExecutorSpec("sim-reverse", "sim", schedule="reverse", sizes=(2, 45),
                 reference="cpu-matrix", scipy_algorithm=True),
    # shuffled threads and other launch shapes, for the rounds' kernels (the other kernels
    # run shuffled in test_cuda_backend.py's and test_simulator.py's own tests)
    ExecutorSpec("sim-random", "sim", schedule="random", sizes=(45,), methods=ROUNDS_METHODS,
                 reference="cpu-matrix", metric_methods=()),
    ExecutorSpec("gpu", "gpu", sizes=(2, 3, 45, 150), reference="cpu-matrix",
                 scipy_algorithm=True, ties_n=150, tie_seeds=(1, 2, 3)),
    ExecutorSpec("sim-forward-vector", "sim", schedule="forward", sizes=(2, 3, 90),
                 reference="cpu-vector", **_VECTOR),
    ExecutorSpec("sim-reverse-vector", "sim", schedule="reverse", sizes=(2, 3, 90),
                 reference="cpu-vector", **_VECTOR),
    ExecutorSpec("gpu-vector", "gpu", sizes=(2, 3, 90, 150), reference="cpu-vector", ties_n=150,
                 tie_seeds=(1, 2, 3), **_VECTOR),
    ExecutorSpec("dask", "dask", shard_compute="cpu", methods=REDUCIBLE, sizes=(2, 3, 50, 300),
                 reference="cpu-matrix", ties_n=120, tie_seeds=(1, 2, 3),
                 metric_methods=("single", "average"),
                 unreferenced=("single",)),  # Boruvka's tree, not Prim's, among equal edges
    # the simulated CUDA shards also run in test_dask_cuda.py's default-lane tests
    ExecutorSpec("dask-sim", "dask", shard_compute="cuda-sim", methods=REDUCIBLE, sizes=(48,),
                 reference="dask", metric_methods=("average",), slow=True),
    ExecutorSpec("dask-gpu", "dask", shard_compute="cuda", methods=REDUCIBLE, sizes=(48, 400),
                 reference="dask", ties_n=400),
)
EXECUTOR_SPECS = {spec.name: spec for spec in EXECUTORS}


class Executor:
    """An executor ready to run: ``linkage(y, method, metric, **kwargs)`` is
    ``gpuhclust.linkage`` on it, ``reference(...)`` the same call on the executor it must equal
    bit for bit (None where there is none)."""

    def __init__(self, spec: ExecutorSpec, request):
        self.spec = spec
        self.name = spec.name
        self.engine = spec.engine
        self.client = None
        if spec.backend in ("cpu", "numpy"):
            self.backend = spec.backend
        elif spec.backend == "sim":
            self.backend = sim_backend(spec.schedule)
        elif spec.backend == "gpu":
            self.backend = gpu_backend()
        else:
            from gpuhclust.dask import DaskBackend

            if spec.shard_compute == "cuda-sim":
                require_simulator()
            elif spec.shard_compute == "cuda":
                gpu_backend()  # skips without a device
            self.backend = DaskBackend(shard_compute=spec.shard_compute)
            self.client = request.getfixturevalue("dask_client")
        self._reference = (Executor(EXECUTOR_SPECS[spec.reference], request)
                           if spec.reference else None)

    @property
    def on_device(self) -> bool:
        """Runs on a real GPU (whose pow, for one, is not correctly rounded)."""
        return self.spec.backend == "gpu"

    def linkage(self, y, method, metric="euclidean", **kwargs):
        if self.engine == "vector":
            kwargs["engine"] = "vector"
        if self.client is not None:
            kwargs["client"] = self.client
        Z = gpuhclust.linkage(y, method, metric, backend=self.backend, **kwargs)
        if self.client is not None:
            from gpuhclust.dask import backend as dask_backend

            stats = dask_backend.last_run
            # the shards computed with what was asked for: no silent fallback
            assert stats["shard_compute"] == [self.spec.shard_compute] * stats["workers"]
        return Z

    def reference(self, y, method, metric="euclidean", **kwargs):
        if self._reference is None or method in self.spec.unreferenced:
            return None
        return self._reference.linkage(y, method, metric, **kwargs)

    def __repr__(self):
        return f"Executor({self.name})"


def executor_params(fixturenames, marker):
    """The ``pytest.param`` rows for a test that asks for ``executor`` (and maybe ``method``,
    ``kind``, ``n``, ``metric``, ``seed``): every executor, each with the values it takes.

    ``marker`` is the test's ``executor_cases`` mark or None: ``methods=(...)`` keeps those
    methods, ``metric=True`` each executor's ``metric_methods``, ``kinds=(...)`` those kinds
    of input (executors with none of them drop out), ``only=predicate`` the executors whose
    spec it accepts."""
    axes = [a for a in ("method", "kind", "n", "metric", "seed") if a in fixturenames]
    params = []
    for spec in EXECUTORS:
        methods, kinds = spec.methods, spec.kinds
        if marker is not None and not marker.kwargs.get("only", bool)(spec):
            continue
        if marker is not None:
            wanted = (spec.metric_methods if marker.kwargs.get("metric")
                      else marker.kwargs.get("methods", methods))
            methods = tuple(m for m in methods if m in wanted)
            kinds = tuple(k for k in kinds if k in marker.kwargs.get("kinds", kinds))
        choices = {"method": methods, "kind": kinds, "n": spec.sizes, "metric": spec.metrics,
                   "seed": spec.tie_seeds}
        if not kinds:
            continue
        combos = [()]
        for axis in axes:
            combos = [c + (v,) for c in combos for v in choices[axis]]
        for combo in combos:
            ids = [spec.name] + [f"{a}{v}" if a in ("n", "seed") else str(v)
                                 for a, v in zip(axes, combo)]
            params.append(pytest.param(spec.name, *combo, id="-".join(ids), marks=spec.marks))
    return ["executor"] + axes, params
