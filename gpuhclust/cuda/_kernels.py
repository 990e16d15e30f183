"""The kernel families in ``kernels/``: their sources, the kernels each one exports (with the
template instantiations the host uses), and the compile options every compiler gets, NVRTC for a
real device or the compile check, g++ for the simulator.

Constants the kernels share with Python (method and metric codes, the tile size) are passed as
``-D`` defines generated from gpuhclust's own tables, never written twice.
"""
from __future__ import annotations

import importlib.resources
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .._methods import METHODS, WARD_SQUARED
from .._metrics import METRIC_CODES
from .._rounds import KEPT, NO_KEY

__all__ = ["FAMILIES", "Family", "kernel_dir", "source", "defines", "nvrtc_options",
           "STORAGE_TYPES", "TILE", "PAIR_TILE", "LOOP_THREADS", "COOPERATIVE_THREADS", "VECTOR_STATE", "VECTOR_PHASES",
           "VECTOR_QUERIES", "VECTOR_NEAREST_THREADS"]

TILE = 16  # pairwise_tiles: TILE x TILE threads a block, features staged TILE at a time
PAIR_TILE = 64  # pairwise_tiles: a block computes PAIR_TILE x PAIR_TILE pairs (a multiple of TILE)
LOOP_THREADS = 1024  # most threads of the one-block loops (nn_chain_loop, generic_loop)
#: most threads a block of the cooperative loops (prim_loop_*, tournament_loop)
COOPERATIVE_THREADS = 512
#: vector_round_nearest: queries per tile (each candidate centroid is read once per tile)
VECTOR_QUERIES = 32
#: vector_round_nearest: the most threads a block (its kept lists fill the shared memory)
VECTOR_NEAREST_THREADS = 256
STORAGE_TYPES = {"float32": "float", "float64": "double"}

# The vector engine's device state (kernels/vector.cu): one int64 array, these entries in this
# order (GH_VS_<NAME> in the kernels). Requests name clusters by slot, never by position, so the
# host can compact the centroids between rounds without rewriting them.
VECTOR_STATE = (
    "k",             # merges done
    "phase",         # what the next vector_scan computes (VECTOR_PHASES)
    "live_end",      # positions [0, live_end) hold the clusters (dead ones have size 0)
    "dead",          # dead positions below live_end
    "chain_length",  # ward: the nearest-neighbour chain
    "first_live",    # ward: no live position below it (where a new chain starts)
    "heap_size",     # centroid/median: entries in the heap
    "center",        # slot whose dissimilarities the next scan computes
    "prev",          # ward: the chain element before center (-1: none); it wins a tie
    "x",             # centroid/median: the slot rescanned, or merged away
    "y",             # centroid/median: the slot that received the last merge
    "attempts",      # centroid/median: rescans since the last merge (a guard)
    "queries",       # centroid/median tournament: slots listed in the queries array
    "limit_value",   # tournament: stale rows below (limit_value's bits, limit_slot) are rescanned
    "limit_slot",
)
# Phases (GH_VP_<NAME>): 'top' (no scan: examine the heap), 'query' (ward: nearest neighbour of
# center), 'rescan' (nearest higher neighbour of center), 'update' (after a merge into center:
# the cached neighbours below it, its nearest above it), 'no_pair' (no finite minimum: stop),
# 'done' (the tournament: every merge made).
VECTOR_PHASES = ("top", "query", "rescan", "update", "no_pair", "done")


@dataclass(frozen=True)
class Family:
    """One ``kernels/<name>.cu`` file and the kernels the host takes from it."""

    name: str
    templated: tuple[str, ...]   # kernels instantiated for float and double
    plain: tuple[str, ...] = ()  # extern "C" kernels

    @property
    def filename(self) -> str:
        return f"{self.name}.cu"

    @property
    def name_expressions(self) -> list[str]:
        return [f"{k}<{ctype}>" for k in self.templated for ctype in STORAGE_TYPES.values()]

    @property
    def kernel_names(self) -> list[str]:
        return self.name_expressions + list(self.plain)


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("distances", ("pairwise_tiles", "condensed_to_square", "first_non_finite")),
    Family("mst", ("prim_loop_matrix",), ("prim_loop_observations",)),
    Family("nn_chain", ("nn_chain_loop",)),
    Family("generic", ("generic_neighbours", "generic_loop", "tournament_loop"),
           ("generic_heapify",)),
    Family("vector", (), ("vector_scan", "vector_nearest_higher", "ward_step", "generic_step",
                          "vector_round_merge", "vector_round_nearest", "vector_round_pick",
                          "vector_gather", "vector_pair_w", "vector_tournament_collect",
                          "vector_tournament_pass")),
    Family("rounds", ("round_merge", "round_rescan", "round_rescan_kept", "round_pick_kept",
                      "round_pairs", "round_gather"), ("round_mark",)),
    Family("shard", ("shard_fill_rows", "shard_unpack_condensed", "shard_first_non_finite",
                     "shard_replay", "shard_rescan", "shard_merge", "shard_boruvka")),
)}


def kernel_dir() -> Path:
    """The folder holding the ``.cu``/``.cuh`` files (inside the installed package)."""
    return Path(str(importlib.resources.files("gpuhclust.kernels")))


_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$', re.MULTILINE)


def _expand(path: Path, seen: set[str]) -> str:
    def include(match):
        name = match.group(1)
        if name in seen:  # the headers are '#pragma once'
            return ""
        seen.add(name)
        return _expand(kernel_dir() / name, seen)
    return _INCLUDE.sub(include, path.read_text())


@lru_cache(maxsize=None)
def source(family: str) -> str:
    """The source of a family's ``.cu`` file with the project's own headers pasted in.

    Compilers' caches (CuPy's, the simulator's) key on the source text alone; with the headers
    inside it, an edit to a header is a new key, never a stale binary."""
    return _expand(kernel_dir() / FAMILIES[family].filename, set())


def defines() -> dict[str, str]:
    """Macro definitions every kernel is compiled with."""
    out = {f"GH_{m.name.upper()}": str(m.code) for m in METHODS.values()}
    out["GH_WARD_SQUARED"] = str(WARD_SQUARED)
    out.update({f"GH_{name.upper()}": str(code) for name, code in METRIC_CODES.items()})
    out["GH_TILE"] = str(TILE)
    out["GH_PAIR_TILE"] = str(PAIR_TILE)
    out["GH_VECTOR_QUERIES"] = str(VECTOR_QUERIES)
    out["GH_VR_THREADS"] = str(VECTOR_NEAREST_THREADS)
    out["GH_KEPT"] = str(KEPT)
    out["GH_NO_KEY"] = f"{NO_KEY}LL"
    out.update({f"GH_VS_{name.upper()}": str(i) for i, name in enumerate(VECTOR_STATE)})
    out.update({f"GH_VP_{name.upper()}": str(i) for i, name in enumerate(VECTOR_PHASES)})
    return out


def nvrtc_options(arch: str | None = None) -> tuple[str, ...]:
    """NVRTC options: C++17, no FMA contraction (the CPU backend's arithmetic, bit for bit),
    IEEE division and square root, the include folder and the shared defines."""
    options = ["-std=c++17", "--fmad=false", "-prec-div=true", "-prec-sqrt=true",
               f"-I{kernel_dir()}"]
    options += [f"-D{key}={value}" for key, value in defines().items()]
    if arch is not None:
        options.append(f"-arch={arch}")
    return tuple(options)
