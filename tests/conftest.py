"""pytest configuration: the versions the tests ran against, and the shared fixtures.

- ``simulator``: the kernel simulator's C++ compiler is there (skips without one; fails under
  CI);
- ``sim_or_gpu_backend``: the CUDA backend on the simulator, threads forward and in reverse, and
  on a real GPU when there is one; ``cuda_schedule_backend``: the same in every schedule;
- ``dask_client`` (2 workers, session), ``dask_client1``, ``dask_client3`` and
  ``dask_process_client`` (per module): in-process LocalClusters, one thread per worker;
- ``executor``: every executor that computes Z (``_executors.EXECUTORS``: cpu matrix, cpu
  vector, the simulator in two schedules, a real GPU, Dask with Numba or simulated CUDA
  shards), like SciPy's ``xp`` fixture: a test that asks for it runs on each executor, over the
  methods (``method``), inputs (``kind``) and tie-free sizes (``n``) that executor takes;
- ``ref``: SciPy's stored reference results (``scipy.cluster.tests.hierarchy_test_data``).
"""
from __future__ import annotations

import pytest

from _executors import EXECUTOR_SPECS, Executor, executor_params
from _helpers import gpu_backend, local_cluster, require_simulator, sim_backend


def pytest_report_header(config):
    import numba
    import scipy

    return (f"scipy {scipy.__version__}, numba {numba.__version__} "
            f"({numba.get_num_threads()} threads)")


def pytest_configure(config):
    config.addinivalue_line("markers", "executor_cases(methods=None, metric=False, kinds=None, "
                                       "only=None): the methods (metric=True: each executor's "
                                       "metric_methods), kinds of input and executors "
                                       "(only=predicate on the spec) an executor test runs")


# -- the kernel simulator and the GPU --------------------------------------------------------
@pytest.fixture(scope="module")
def simulator():
    """The kernel simulator is usable (skips, or fails under CI, without a C++ compiler)."""
    require_simulator()


@pytest.fixture(params=["sim-forward", "sim-reverse",
                        pytest.param("gpu", marks=pytest.mark.gpu)])
def sim_or_gpu_backend(request):
    """The CUDA backend on the simulator, threads forward and in reverse (a missing barrier
    shows up in one of them), and on a real GPU when one is present (marked ``gpu``)."""
    if request.param == "gpu":
        return gpu_backend()
    return sim_backend(request.param.split("-")[1])


@pytest.fixture(params=["forward", "reverse", pytest.param("random", marks=pytest.mark.slow),
                        pytest.param("gpu", marks=pytest.mark.gpu)])
def cuda_schedule_backend(request):
    """The CUDA backend on the kernel simulator under each thread schedule (forward, reverse,
    and, in the slow lane, shuffled with launch shapes unlike the device's), and on a real GPU
    when one is present (marked ``gpu``)."""
    return gpu_backend() if request.param == "gpu" else sim_backend(request.param)


# -- Dask ------------------------------------------------------------------------------------
def _client(processes: bool, n_workers: int):
    cluster, client = local_cluster(processes, n_workers)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="session")
def dask_client():
    """A client of an in-process LocalCluster with 2 workers."""
    yield from _client(False, 2)


@pytest.fixture(scope="module")
def dask_client1():
    """A client of an in-process LocalCluster with 1 worker."""
    yield from _client(False, 1)


@pytest.fixture(scope="module")
def dask_client3():
    """A client of an in-process LocalCluster with 3 workers."""
    yield from _client(False, 3)


@pytest.fixture(scope="module")
def dask_process_client():
    """A client of a LocalCluster with 2 worker processes (data really crosses processes)."""
    yield from _client(True, 2)


# -- executors -------------------------------------------------------------------------------
@pytest.fixture
def executor(request):
    """Each executor of ``EXECUTORS`` (parametrised by ``pytest_generate_tests``)."""
    return Executor(EXECUTOR_SPECS[request.param], request)


def pytest_generate_tests(metafunc):
    """A test that asks for ``executor`` runs on every executor; its ``method``, ``kind``,
    ``n``, ``metric`` and ``seed`` arguments, when it has them, run over what that executor takes
    (``_executors.executor_params``; the ``executor_cases`` mark narrows them)."""
    if "executor" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("executor_cases")
        names, params = executor_params(metafunc.fixturenames, marker)
        metafunc.parametrize(names, params, indirect=["executor"])


@pytest.fixture(scope="session")
def ref():
    """SciPy's stored reference data for its hierarchy tests; skips where SciPy is installed
    without its test folder (some images strip it)."""
    return pytest.importorskip("scipy.cluster.tests.hierarchy_test_data")
