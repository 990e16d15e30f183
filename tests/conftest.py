"""pytest configuration: report the versions the parity tests ran against."""


def pytest_report_header(config):
    import numba
    import scipy

    return (f"scipy {scipy.__version__}, numba {numba.__version__} "
            f"({numba.get_num_threads()} threads)")
