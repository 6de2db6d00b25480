#!/usr/bin/env bash
# Install tvm-sepnet, compile SEP-Net (sepnet-bq) for this x86 host, print its layer table and check a
# run against the numpy reference executor (the README's main command).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e ".[onnx]"
OUT=${OUT:-build/sepnet-bq}
mkdir -p build
python3 -c "import numpy as np; np.save('build/x.npy', np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype('float32'))"
tvm-sepnet compile sepnet-bq --target x86 -o "$OUT"
tvm-sepnet run "$OUT" --input build/x.npy --check
