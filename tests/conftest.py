"""pytest configuration: report the versions the parity tests ran against; shared fixtures."""
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
