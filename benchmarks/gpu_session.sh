#!/usr/bin/env bash
# One unattended session on a machine with a CUDA GPU (under 8 minutes on an H200):
#   1. microbenchmarks of the cost model's device figures -> the calibration file
#   2. pytest -m gpu
#   3. compute-sanitizer memcheck and racecheck on a small linkage of every kernel family
#   4. linkage timed at the model's sizes, next to the model's estimates (with and without the
#      calibration)
# Everything goes to benchmarks/results/gpu-session-<date>/. Every step has its own timeout and
# the whole session a budget (GPU_SESSION_BUDGET seconds, default 450), so it ends in time even
# when a step hangs; a step the budget no longer covers is skipped and says so.
#   bash benchmarks/gpu_session.sh [--dry-run]     (--dry-run: print the plan, run nothing)
set -u
cd "$(dirname "$0")/.."
BUDGET=${GPU_SESSION_BUDGET:-450}
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
PY=${PYTHON:-python}
DATE=$(date -u +%Y-%m-%d)
OUT=benchmarks/results/gpu-session-$DATE
MODEL=$(ls benchmarks/results/gpu-model-*.json 2>/dev/null | tail -n 1)
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
step calibrate 75 "$PY" benchmarks/gpu_calibrate.py calibrate --out "$OUT/calibration.json"
step pytest-gpu 120 "$PY" -m pytest -m gpu -q -x -p no:cacheprovider tests
if [ $DRY = 1 ]; then
    echo "[dry-run] sanitize: timeout 90s: compute-sanitizer --tool memcheck|racecheck $PY benchmarks/gpu_calibrate.py sanitize-target"
else
    export -f sanitize; export PY
    step sanitize 90 bash -c sanitize
fi
step timings 200 "$PY" benchmarks/gpu_calibrate.py time --model "${MODEL:-none}" --out "$OUT/timings.jsonl"
if [ -n "$MODEL" ]; then
    step model-calibrated 30 "$PY" benchmarks/gpu_model.py --counts "$MODEL" \
        --calibration "$OUT/calibration.json" --json "$OUT/gpu-model-calibrated.json"
fi
echo "session done in $(( $(date +%s) - START ))s"
