"""benchmarks/gpu_model.py --quick end to end (the GPU cost model from simulator counts), and the
CPU-checkable parts of the GPU session scripts."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gpuhclust import _sim

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "benchmarks" / "gpu_model.py"
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_model  # noqa: E402

# `gpu_model.py --quick` (a minute or two): the slow lane, which CI runs
pytestmark = pytest.mark.slow

ESTIMATE_FIELDS = {"method", "engine", "algorithm", "dtype", "n", "d", "seconds", "launches",
                   "host_syncs", "grid_barriers", "block_barriers", "dram_bytes", "kernels"}
KERNEL_FIELDS = {"launches", "sectors_read", "sectors_written", "seconds"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    if not _sim.compiler_available():
        pytest.skip("no C++ compiler for the kernel simulator")
    out = tmp_path_factory.mktemp("gpu_model") / "model.json"
    res = subprocess.run([sys.executable, str(MODEL), "--quick", "--json", str(out)],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return json.loads(out.read_text()), res.stdout


def test_quick_json_shape(quick):
    result, stdout = quick
    assert {"device", "estimates", "fits"} <= set(result)
    assert result["device"]["hbm_bandwidth"] == 4.0e12
    assert {(e["engine"], e["n"], e["d"]) for e in result["estimates"]} == {
        ("matrix", 10_000, 64), ("matrix", 50_000, 64), ("matrix", 100_000, 64), ("vector", 1_000_000, 32)}
    for e in result["estimates"]:
        assert ESTIMATE_FIELDS <= set(e)
        assert e["seconds"] > 0 and e["dram_bytes"] > 0 and e["launches"] >= 1
        for k in e["kernels"].values():
            assert KERNEL_FIELDS <= set(k)
            assert k["launches"] >= 1 and k["seconds"] > 0
        assert e["seconds"] >= max(k["seconds"] for k in e["kernels"].values())
    for f in result["fits"]:
        assert {"quantity", "coefficients", "max_rel_residual"} <= set(f)
    # every printed figure says it is an estimate
    lines = [line for line in stdout.splitlines() if any(ch.isdigit() for ch in line)]
    assert lines and all("est" in line for line in lines)


def test_quick_estimates_are_sane(quick):
    result, _ = quick
    device = result["device"]
    by = {(e["method"], e["engine"], e["algorithm"], e["dtype"], e["n"]): e
          for e in result["estimates"]}
    chain = [by["average", "matrix", "nn_chain", "float32", n] for n in (10_000, 50_000, 100_000)]
    # grows about as n^2 (the matrix is scanned and written once per merge, in one block)
    assert 10 < chain[1]["seconds"] / chain[0]["seconds"] < 40
    assert 3 < chain[2]["seconds"] / chain[1]["seconds"] < 5
    loop = chain[2]["kernels"]["nn_chain_loop<float>"]
    # the one-block NN-chain kernel is bandwidth-limited at one SM's bandwidth
    assert loop["blocks_per_launch"] == 1 and loop["bound"] == "memory"
    assert loop["seconds"] == pytest.approx(loop["dram_bytes"] / device["one_block_bandwidth"], rel=0.1)
    # and its traffic is at least one write of the matrix's column per merge (n^2 sectors)
    assert loop["sectors_written"] > 0.5 * 100_000**2
    rounds = by["average", "matrix", "rounds", "float32", 100_000]
    # every round's merges and rescans spread over the device's blocks: far below the chain
    assert rounds["seconds"] < chain[2]["seconds"] / 5
    assert rounds["kernels"]["round_merge<float>"]["blocks_per_launch"] == device["max_blocks"]
    # the rows the kept entries do not settle, split over the device's blocks when few
    assert rounds["kernels"]["round_rescan_kept<float>"]["blocks_per_launch"] == device["max_blocks"]
    # at most two host syncs per round (the kept entries' distances, the rescans) and five
    # launches (mark, merge, pairs, the rescan's two): none per merge; the rounds from the
    # power law fitted to the counts (far fewer than merges)
    assert rounds["rounds"] < rounds["host_syncs"] <= 2 * rounds["rounds"] + 2
    assert rounds["rounds"] < 100_000 / 20
    assert rounds["launches"] <= 5 * rounds["rounds"] + 3
    law, = (law for law in result["round_laws"] if law["method"] == "average")
    assert law["max_rel_residual"] < 0.25 and 0 < law["b"] < 1
    prim = by["single", "vector", "mst", "float64", 1_000_000]
    assert prim["launches"] < 200 and prim["host_launches"] < 200  # one launch per chunk
    assert prim["grid_barriers"] == pytest.approx(1_000_000 - 1, rel=0.02)  # one per merge (fitted)
    assert prim["kernels"]["prim_loop_observations"]["blocks_per_launch"] >= 4


def test_fit_recovers_known_laws():
    ns = gpu_model.SIZES
    for law, expect in ((lambda n: 3 * n * n, {"n^2": 3}), (lambda n: 5 * n, {"n": 5})):
        f = gpu_model.fit(ns, [law(n) for n in ns])
        assert f["max_rel_residual"] < 1e-9
        for term, value in expect.items():
            assert f["coefficients"][term] == pytest.approx(value)
        assert gpu_model.predict(f, 100_000) == pytest.approx(law(100_000))
    calls = gpu_model.fit(ns, [2 * (n - 1) for n in ns], gpu_model.CALL_BASIS)
    assert gpu_model.predict(calls, 10**6) == pytest.approx(2 * (10**6 - 1))


def _cooperative_runs(blocks_at):
    """Counts of a made-up cooperative loop: 3 grid steps per merge, each step 2 __syncthreads
    and 40 warp operations in every block, 1 dependent read; the simulated grid grows with n
    (`blocks_at`), so the counts summed over its blocks grow faster than the steps."""
    runs = []
    for n in gpu_model.SIZES:
        steps, blocks, launches = 3 * (n - 1), blocks_at(n), 100
        counts = dict.fromkeys(gpu_model.FITTED, 0)
        counts.update(launches=launches, blocks=launches * blocks, threads=launches * 256,
                      grid_barriers=steps, block_barriers=2 * steps * blocks,
                      warp_ops=40 * steps * blocks, serial_reads=steps * blocks,
                      warp_sectors_read=n * n, sectors_read=n * n, thread_accesses=n * n)
        runs.append({"n": n, "launches": launches, "host_launches": launches, "host_syncs": 1,
                     "kernels": {"loop": {**counts, "one_block": blocks == 1, "capped": False}}})
    return runs


def test_cooperative_latency_is_one_blocks_per_step():
    """A cooperative kernel's barriers and warp operations are charged per block and grid step,
    whatever grid the simulator gave it at each n (not fitted against n as summed counts)."""
    from gpuhclust._sim.cost_model import H200

    config = gpu_model.Config("median", "matrix", "tournament", "float32", ("float32",))
    one, _ = gpu_model.estimate(config, _cooperative_runs(lambda n: 1), H200)
    growing, fits = gpu_model.estimate(config, _cooperative_runs(lambda n: 1 + n // 100), H200)
    for a, b in zip(one, growing):
        assert b["seconds"] == pytest.approx(a["seconds"], rel=1e-9)
        loop = b["kernels"]["loop"]
        steps = 3 * (b["n"] - 1)
        assert b["grid_barriers"] == pytest.approx(steps, rel=1e-6)
        # summed over the device's blocks: 2 per block and step
        assert loop["block_barriers"] == pytest.approx(2 * steps * H200["sms"], rel=1e-6)
    ratio, = (f for f in fits if f["quantity"] == "loop.warp_ops (one block's, per grid step)")
    assert ratio["per_grid_step"] == pytest.approx(40.0)
    # each grid step costs the barrier and the step's dependent reads on top of the kernels
    seconds = gpu_model.call_seconds(0.0, 0, 0, 1.0, H200)
    assert seconds == pytest.approx(H200["grid_barrier"] + H200["grid_step_dependent_accesses"]
                                    * H200["dependent_access"])


def test_round_law_recovers_a_power_law():
    counts = {n: 3.0 * n ** 0.4 for n in (101, 201, 1000, 4000)}
    law = gpu_model.round_law(counts)
    assert law["b"] == pytest.approx(0.4) and law["a"] == pytest.approx(3.0)
    assert gpu_model.predict_rounds(law, 10**5) == pytest.approx(3.0 * (10**5) ** 0.4)
    # launches fitted per round: 3 per round and 1 per call, whatever n
    rounds = [law["counts"][str(n)] for n in counts]
    f = gpu_model.fit(list(counts), [3 * r + 1 for r in rounds], gpu_model.ROUND_BASIS, rounds)
    assert gpu_model.predict(f, 10**5, 70.0) == pytest.approx(211.0)


def test_every_method_and_engine_has_a_configuration():
    from gpuhclust._engines import VECTOR_METHODS
    from gpuhclust._methods import METHODS

    rows = {(c.method, c.engine) for c in gpu_model.configurations()}
    assert rows == {(m, "matrix") for m in METHODS} | {(m, "vector") for m in VECTOR_METHODS}


def test_readme_table_comes_from_the_results(quick):
    result, _ = quick
    table = gpu_model.readme_table(result, "x.json")
    assert "estimate" in table.lower() and "x.json" in table
    e = next(e for e in result["estimates"] if e["method"] == "average" and e["n"] == 100_000
             and e["algorithm"] == "rounds")
    assert f"~{e['seconds']:.3g} s" in table
    assert "average | matrix (rounds)" in table
    assert "(nn_chain)" not in table and "(generic)" not in table  # defaults only


def test_session_scripts_check_without_a_gpu():
    script = ROOT / "benchmarks" / "gpu_session.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    res = subprocess.run(["bash", str(script), "--dry-run"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    for step in ("calibrate", "pytest-gpu", "sanitize", "timings", "nsight"):
        assert f"[dry-run] {step}" in res.stdout
    cal = ROOT / "benchmarks" / "gpu_calibrate.py"
    for sub in (["calibrate", "--out", "unused.json"], ["time", "--out", "unused.jsonl"], ["sanitize-target"]):
        res = subprocess.run([sys.executable, str(cal), *sub, "--dry-run"], capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 0 and "[dry-run]" in res.stdout, res.stderr
    assert not (ROOT / "unused.json").exists()


def test_measured_readme_table_takes_the_later_run_and_the_model(tmp_path):
    import gpu_calibrate

    first, later = tmp_path / "a" / "t.jsonl", tmp_path / "b" / "t.jsonl"
    for path, seconds in ((first, 9.0), (later, 1.5)):
        path.parent.mkdir()
        rows = [dict(method="average", n=100_000, d=64, engine="matrix", dtype=dt,
                     algorithm="rounds", seconds=seconds) for dt in ("float32", "float64")]
        rows.append(dict(method="ward", n=10_000, d=16, engine="vector", dtype="float64",
                         algorithm="rounds", seconds=0.5))  # not a target size: left out
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = {"estimates": [dict(method="average", n=100_000, engine="matrix", dtype="float32",
                                algorithm="rounds", seconds=0.25)]}
    table = gpu_calibrate.readme_table([first, later], model)
    row = next(line for line in table.splitlines() if line.startswith("| average"))
    assert "1.5 s / 1.5 s" in row and "9 s" not in row
    assert "0.25 s / -" in row and "< 0.5 s" in row and "| b |" in row
    assert "| ward" not in table
