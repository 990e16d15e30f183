"""Backend 'numpy': the CPU algorithms in NumPy alone, for small inputs (nothing to compile).

``linkage(..., backend='auto')`` runs inputs of up to ``gpuhclust._plan.SMALL_INPUT_N``
observations here when it would otherwise run them on the CPU backend: at that size the whole
run takes less time than loading Numba and its compiled code, and a first run on a fresh
install compiles nothing. Every value is the same expression on the same operands as in the
CPU backend, so Z is the CPU backend's bit for bit, ties included (tested).
"""
