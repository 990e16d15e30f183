#!/usr/bin/env bash
# One unattended session on a machine with a CUDA GPU (under 10 minutes on an H200):
#   1. pytest -m gpu (its workers compile the kernels and Numba's CPU code first, so the steps
#      after it find CuPy's and Numba's caches warm)
#   2. linkage timed at the issues' target sizes next to the model's estimates, after checks
#      at n = 10,000 that compare every method's Z with backend='cpu'
#   3. four runs taken apart (gpu_calibrate.py profile: time per kernel, host time per function)
#   4. compute-sanitizer memcheck and racecheck on a small linkage of every kernel family
#   5. Nsight Compute (ncu) on a few launches of the kernels that take most of the time
#      (speed of light, occupancy, warp stalls: why a kernel is slower than its model says)
#   6. microbenchmarks of the cost model's device figures -> the calibration file
#   7. the model re-estimated with the calibration
# Everything goes to benchmarks/results/gpu-session-<date>/. Every step has its own timeout and
# the whole session a budget (GPU_SESSION_BUDGET seconds, default 560), so it ends in time even
# when a step hangs; a step the budget no longer covers is skipped and says so. The model is
# the newest benchmarks/results/gpu-model-*.json by its 'generated' stamp (GPU_MODEL overrides).
#   bash benchmarks/gpu_session.sh [--dry-run]     (--dry-run: print the plan, run nothing)
set -u
cd "$(dirname "$0")/.."
BUDGET=${GPU_SESSION_BUDGET:-560}
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
PY=${PYTHON:-python}
DATE=$(date -u +%Y-%m-%d)
OUT=benchmarks/results/gpu-session-$DATE
NEWEST_MODEL='
import glob, json
def stamp(f):
    m = json.load(open(f))
    return (m.get("generated") or m.get("date") or "", f)
files = glob.glob("benchmarks/results/gpu-model-*.json")
print(max(files, key=stamp) if files else "")'
MODEL=${GPU_MODEL:-$("$PY" -c "$NEWEST_MODEL")}
START=$(date +%s)
[ $DRY = 1 ] || mkdir -p "$OUT"

left() { echo $(( BUDGET - ($(date +%s) - START) )); }

# step NAME LIMIT COMMAND...: run COMMAND with at most LIMIT seconds (less if the budget is short)
step() {
    local name=$1 limit=$2; shift 2
    local l t s0 rc
    l=$(left)
    t=$(( limit < l ? limit : l ))
    if [ $DRY = 1 ]; then
        echo "[dry-run] $name: timeout ${limit}s: $*"
        return 0
    fi
    if [ "$t" -le 10 ]; then
        echo "$name: skipped, the session's budget is spent" | tee -a "$OUT/summary.txt"
        return 0
    fi
    echo "== $name (at most ${t}s)"
    s0=$(date +%s)
    timeout -k 5 "$t" "$@" > "$OUT/$name.log" 2>&1
    rc=$?
    local verdict="exit $rc"
    [ $rc = 124 ] || [ $rc = 137 ] && verdict="TIMED OUT after ${t}s"
    echo "$name: $verdict in $(( $(date +%s) - s0 ))s (log: $OUT/$name.log)" | tee -a "$OUT/summary.txt"
}

sanitize() {
    if ! command -v compute-sanitizer > /dev/null; then
        echo "compute-sanitizer not found: memcheck and racecheck skipped"
        return 0
    fi
    local rc=0
    for tool in memcheck racecheck; do
        echo "-- $tool"
        compute-sanitizer --tool "$tool" --error-exitcode 3 \
            "$PY" benchmarks/gpu_calibrate.py sanitize-target || rc=$?
    done
    return $rc
}

echo "gpu session $DATE, budget ${BUDGET}s, results in $OUT, model: ${MODEL:-none}"
[ $DRY = 1 ] || nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
# pytest's options for a hang (a kernel that never returns blocks in C: only the thread
# method ends it) and for the 16 cores, where the plugins are installed
PYTEST_OPTS="-q -rfE --tb=short -p no:cacheprovider"
"$PY" -c "import pytest_timeout" 2> /dev/null && PYTEST_OPTS="$PYTEST_OPTS --timeout=90 --timeout-method=thread"
"$PY" -c "import xdist" 2> /dev/null && PYTEST_OPTS="$PYTEST_OPTS -n 8"
step pytest-gpu 150 "$PY" -m pytest -m gpu $PYTEST_OPTS tests
step timings 330 "$PY" benchmarks/gpu_calibrate.py time --model "${MODEL:-none}" --budget 320 \
    --out "$OUT/timings.jsonl"
profiles() {
    local run
    for run in "complete 100000 64 matrix float32" "average 100000 64 matrix float32" \
               "median 100000 64 matrix float32" "ward 200000 32 vector float64"; do
        echo "-- $run"
        "$PY" benchmarks/gpu_calibrate.py profile $run --out "$OUT/profiles.jsonl" || return $?
    done
}
if [ $DRY = 1 ]; then
    echo "[dry-run] profiles: timeout 90s: $PY benchmarks/gpu_calibrate.py profile ... (complete, average, median at n = 100,000; vector ward at 200,000)"
else
    export -f profiles; export PY OUT
    step profiles 90 bash -c profiles
fi
if [ $DRY = 1 ]; then
    echo "[dry-run] sanitize: timeout 60s: compute-sanitizer --tool memcheck|racecheck $PY benchmarks/gpu_calibrate.py sanitize-target"
else
    export -f sanitize; export PY
    step sanitize 60 bash -c sanitize
fi
# ncu_one KERNEL_REGEX SKIP COUNT -- PROFILE_ARGS: a gpu_calibrate.py profile run: COUNT launches of the kernels
# matching the regex after SKIP of them (past the warm-up's launches), one report section each
ncu_one() {
    local regex=$1 skip=$2 count=$3; shift 4
    echo "-- ncu $regex (skip $skip, count $count): $*"
    "$NCU" --kernel-name "regex:$regex" --launch-skip "$skip" --launch-count "$count" \
        --section SpeedOfLight --section Occupancy --section LaunchStats \
        --section WarpStateStats --section ComputeWorkloadAnalysis \
        --section MemoryWorkloadAnalysis \
        "$PY" benchmarks/gpu_calibrate.py profile "$@" --out /dev/null
}
nsight() {
    NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2> /dev/null || true)
    if [ -z "$NCU" ]; then
        echo "ncu not found: kernel reports skipped"
        return 0
    fi
    ncu_one '^pairwise_tiles' 1 1 -- complete 20000 64 matrix float32 || return $?
    ncu_one '^round_(merge|rescan)' 120 4 -- complete 20000 64 matrix float32 || return $?
    ncu_one '^vector_round_nearest' 60 3 -- ward 50000 32 vector float64 || return $?
    ncu_one '^tournament_loop' 150 1 -- median 20000 64 matrix float32 || return $?
}
if [ $DRY = 1 ]; then
    echo "[dry-run] nsight: timeout 120s: ncu on pairwise_tiles, round_merge, round_rescan (complete, n = 20,000), vector_round_nearest (vector ward, n = 50,000), tournament_loop (median, n = 20,000)"
else
    export -f nsight ncu_one; export PY
    step nsight 120 bash -c nsight
fi
step calibrate 45 "$PY" benchmarks/gpu_calibrate.py calibrate --out "$OUT/calibration.json"
if [ -n "$MODEL" ]; then
    step model-calibrated 20 "$PY" benchmarks/gpu_model.py --counts "$MODEL" \
        --calibration "$OUT/calibration.json" --json "$OUT/gpu-model-calibrated.json"
fi
echo "session done in $(( $(date +%s) - START ))s"
