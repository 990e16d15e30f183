"""pytest plugin: SciPy's own ``scipy/cluster/tests/test_hierarchy.py`` with every call of
``scipy.cluster.hierarchy.linkage`` (the test module's and ``fclusterdata``'s) routed to
``gpuhclust.linkage``. Loaded with ``-p gpuhclust_linkage_plugin``; the algorithm comes from
``GPUHCLUST_SCIPY_SUITE_ALGORITHM`` ('' for the default); the number of calls routed goes to
the file named by ``GPUHCLUST_SCIPY_SUITE_CALLS``. Patched in ``pytest_configure``,
before the test module is imported (it binds ``linkage`` at import).
"""
from __future__ import annotations

import os

CALLS = [0]  # linkage calls routed, written to $GPUHCLUST_SCIPY_SUITE_CALLS at the end


def pytest_configure(config):
    import scipy.cluster.hierarchy as sch

    import gpuhclust

    algorithm = os.environ.get("GPUHCLUST_SCIPY_SUITE_ALGORITHM") or None

    def linkage(y, method="single", metric="euclidean", optimal_ordering=False):
        CALLS[0] += 1
        return gpuhclust.linkage(y, method, metric, optimal_ordering, algorithm=algorithm)

    linkage.__doc__ = sch.linkage.__doc__
    try:  # SciPy >= 1.15 marks its tests by the array API capabilities of each function
        from scipy._lib._array_api import xp_capabilities_table
    except ImportError:
        pass
    else:
        if sch.linkage in xp_capabilities_table:
            xp_capabilities_table[linkage] = xp_capabilities_table[sch.linkage]
    sch.linkage = linkage



def pytest_unconfigure(config):
    path = os.environ.get("GPUHCLUST_SCIPY_SUITE_CALLS")
    if path:
        with open(path, "w") as f:
            f.write(str(CALLS[0]))
