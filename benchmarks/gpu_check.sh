#!/usr/bin/env bash
# GPU check in one short run (a few minutes on one GPU): the devices, the torch/CUDA versions, the
# CUDA smoke and device tests, and the speed benchmarks that take --device, at small sizes.
#
#   bash benchmarks/gpu_check.sh              # from anywhere; PYTHON=... picks the interpreter
#
# Without a CUDA device it says so and exits 0. Exits 1 if a test or a benchmark failed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    echo "gpu_check: $PYTHON cannot import torch; set PYTHON to the project's interpreter" >&2
    exit 1
fi
if ! command -v nvidia-smi >/dev/null 2>&1 \
    || ! "$PYTHON" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: no CUDA device on this machine (nvidia-smi or torch.cuda.is_available()); nothing to check"
    exit 0
fi

failed=()
section() { printf '\n== %s\n' "$*"; }
step() {  # step NAME SECONDS COMMAND...: run with a time limit, remember a failure, keep going
    local name=$1 limit=$2
    shift 2
    section "$name"
    local start=$SECONDS
    timeout "$limit" "$@"
    local status=$?
    echo "-- $name: exit $status, $((SECONDS - start)) s"
    if [[ $status -ne 0 ]]; then failed+=("$name"); fi
}

section devices
nvidia-smi -L
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,utilization.gpu --format=csv
section versions
"$PYTHON" - <<'PY'
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
print(f"device 0: {torch.cuda.get_device_name(0)}, capability {torch.cuda.get_device_capability(0)}, "
      f"bf16 {torch.cuda.is_bf16_supported()}, {torch.cuda.device_count()} device(s)")
PY

# The CUDA-marked smoke test (every task: train, validate, predict on cuda, float32 and bf16) and the
# device tests (their CPU and meta-device checks; test_devices has no cuda-marked test to select).
step "tests: cuda smoke + devices" 300 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_cuda_smoke.py tests/test_devices.py

# Speed benchmarks that take --device, small sizes; each prints its own table.
step "benchmark: decoding_speed" 180 "$PYTHON" benchmarks/decoding_speed.py --device cuda --repeats 3
step "benchmark: recurrent_speed" 120 "$PYTHON" benchmarks/recurrent_speed.py --device cuda --repeats 3
step "benchmark: trainer_overhead" 120 "$PYTHON" benchmarks/trainer_overhead.py --device cuda --samples 4096 --epochs 1 --repeats 2

known="decoding_speed.py recurrent_speed.py trainer_overhead.py"
for script in benchmarks/*.py; do
    name=$(basename "$script")
    if grep -q -- '"--device"' "$script" && [[ " $known " != *" $name "* ]]; then
        echo "gpu_check: $name takes --device but is not run here; add it to benchmarks/gpu_check.sh"
    fi
done

section summary
if [[ ${#failed[@]} -gt 0 ]]; then
    printf 'gpu_check: FAILED: %s\n' "${failed[*]}"
    exit 1
fi
echo "gpu_check: all passed"
