#!/usr/bin/env bash
# Install tvm-sepnet with its test extras and run the whole test suite (the README's test command).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -e ".[test]"
python3 -c "import tvm; tvm.ir.save_json(tvm.tirx.const(1.0)); print('tvm', tvm.__version__, 'ffi save_json ok')"
python3 -m pytest -q "$@"
