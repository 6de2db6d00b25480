"""Fixtures and helpers shared by the kernel tests."""
import pytest
import tvm

from tvm_sepnet.targets import host_mcpu


@pytest.fixture(scope="module")
def target():
    return tvm.target.Target({"kind": "llvm", "mcpu": host_mcpu(), "num-cores": 2})


def run_prim_func(func, target, inputs, out_shape, out_dtype="float32"):
    """Compile a call_tir-style PrimFunc (no global_symbol) on its own and run it once."""
    ex = tvm.compile(tvm.IRModule({"main": func.with_attr("global_symbol", "main")}), target)
    dev = tvm.cpu()
    out = tvm.runtime.empty(out_shape, out_dtype, dev)
    ex["main"](*[tvm.runtime.tensor(a, dev) for a in inputs], out)
    return out.numpy()
