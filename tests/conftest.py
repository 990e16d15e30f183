"""pytest configuration: report the versions the parity tests ran against; shared fixtures."""
import os
import warnings

import pytest


def pytest_report_header(config):
    import numba
    import scipy

    return (f"scipy {scipy.__version__}, numba {numba.__version__} "
            f"({numba.get_num_threads()} threads)")


@pytest.fixture(scope="session")
def dask_client():
    """A Dask client of an in-process LocalCluster (2 workers, 1 thread each), as the Dask tests
    use; skips without distributed."""
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*8.8.8.8.*")  # offline: dask/distributed#8559
        warnings.filterwarnings("ignore", message=".*suitable IP address.*")
        cluster = distributed.LocalCluster(processes=False, n_workers=2, threads_per_worker=1,
                                           dashboard_address=None)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()
@pytest.fixture(params=["forward", "reverse", "random",
                        pytest.param("gpu", marks=pytest.mark.gpu)])
def cuda_schedule_backend(request):
    """The CUDA backend on the kernel simulator under each thread schedule (forward, reverse,
    and shuffled with launch shapes unlike the device's: 96-thread blocks, at most 2 blocks),
    and on a real GPU when one is present (marked ``gpu``)."""
    from gpuhclust import _sim
    from gpuhclust.cuda._context import SimContext, cuda_usable
    from gpuhclust.cuda.backend import CudaBackend, SimBackend

    if request.param == "gpu":
        if not cuda_usable():
            pytest.skip("no CUDA device")
        return CudaBackend()
    if not _sim.compiler_available():
        if os.environ.get("CI"):
            pytest.fail("CI must run the kernel simulator: no C++ compiler found")
        pytest.skip("no C++ compiler for the kernel simulator")
    if request.param == "random":
        return SimBackend(SimContext(schedule="random", seed=3, threads=96, max_blocks=2))
    return SimBackend(SimContext(schedule=request.param))
