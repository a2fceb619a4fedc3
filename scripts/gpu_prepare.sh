#!/usr/bin/env bash
# Run HERE, once, before scripts/gpu_check.sh runs on the lent GPU machine (issue 15): the
# machine has torch, torchvision, pillow, pyarrow, numpy, rich, typer, pytest, timm and
# huggingface_hub, but not open_clip and its small pure-Python needs, and ../shared does not
# travel with the checkout. Both go into ignored folders that the run call carries:
#   run(command="bash scripts/gpu_check.sh", carry=[".whl", ".gpudata"], timeout_s=560)
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
grep -qx '/.gpudata/' .git/info/exclude 2>/dev/null || echo /.gpudata/ >> .git/info/exclude
rm -rf .whl && mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.2.13 platformdirs==4.3.6
rm -rf .gpudata && mkdir -p .gpudata && cp -r ../shared/data/coco128 .gpudata/
du -sh .whl .gpudata
