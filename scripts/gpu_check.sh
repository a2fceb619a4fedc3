#!/usr/bin/env bash
# Issue 15's one prepared GPU call, run ON the lent GPU machine from the repository root after
# scripts/gpu_prepare.sh ran here:
#   run(command="bash scripts/gpu_check.sh", carry=[".whl", ".gpudata"], timeout_s=560)
# It installs the carried wheels, builds the benchmark inputs there, runs the GPU tests, the
# build-classifier benchmark and the whole throughput benchmark, and leaves the tables and logs
# in $OUT (each step is logged as it goes, so a run stopped at its limit still brings back what
# finished). Budget: about 8 minutes on the H200, so that a second try fits in 15.
# SMALL=1 runs the same steps tiny on a CPU (a check of this script, not a measurement).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu-check-out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 LZT_COCO128="$PWD/.gpudata/coco128" LZT_CACHE_DIR=/tmp/lzt-cache
started=$(date +%s)
step() { echo "== $(( $(date +%s) - started ))s: $*" | tee -a "$OUT/steps.log"; }

step "install carried wheels"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="$PWD:/tmp/site"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  python3 -c "import torch, torchvision, open_clip, PIL; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'open_clip', open_clip.__version__, 'pillow', PIL.__version__, 'cuda', torch.cuda.is_available())"
  nproc; } 2>&1 | tee "$OUT/machine.txt"

if [ "${SMALL:-0}" = 1 ]; then  # the tests' tiny registered model: checks the steps, measures nothing
    export LZT_MODEL_CONFIG_DIRS="$PWD/tests/model_configs"
    device=cpu; web=64; big=4; models=lzt-tiny-vit; build_model=lzt-tiny-vit; sentences=1000; repeats=1; epochs=1
else
    device=cuda; web=10000; big=500; models=ViT-B-16,ViT-B-32,RN50,ViT-L-14; build_model=ViT-B-16; sentences=100000; repeats=2; epochs=20
fi

step "GPU tests (marker gpu; they skip without CUDA)"
PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python3 -m pytest -p no:cacheprovider -o addopts="" -ra -q -m gpu tests/unit/test_gpu.py 2>&1 | tee "$OUT/gpu_tests.log"

step "build-classifier speed: $sentences sentences"
python3 -m bench.build_speed --device "$device" --models "$build_model" --sentences "$sentences" --epochs "$epochs" --repeats 1 2>&1 | tee "$OUT/build_speed.md"

step "throughput inputs and benchmark: $models, $web web-size + $big 12 MP files"
python3 -m bench.throughput --device "$device" --models "$models" --web "$web" --big "$big" --repeats "$repeats" --data /tmp/lzt-bench 2>&1 | tee "$OUT/throughput.md"
step "done"
