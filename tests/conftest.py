"""Shared test helpers: tiny Relax graphs and op counting."""
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def count_ops(mod, func="main"):
    """{op name: count} over the bindings of ``mod[func]`` (sepnet.conv2d and call_tir by callee)."""
    from tvm import relax

    counts = {}
    for block in mod[func].body.blocks:
        for b in block.bindings:
            v = b.value
            if isinstance(v, relax.Call):
                name = getattr(v.op, "name", None)
                if name == "relax.call_pure_packed":
                    name = v.args[0].global_symbol
                elif name == "relax.call_tir":
                    name = "call_tir:" + v.args[0].name_hint.rstrip("0123456789")
                counts[name] = counts.get(name, 0) + 1
            elif not isinstance(v, relax.Var):  # plain aliases are not ops
                counts[type(v).__name__] = counts.get(type(v).__name__, 0) + 1
    return counts


def conv_layers(mod, func="main"):
    """Parsed sepnet.conv2d layers of ``mod[func]`` in order."""
    from tvm_sepnet.ops import parse_conv

    out = []
    for block in mod[func].body.blocks:
        for b in block.bindings:
            c = parse_conv(b.value)
            if c is not None:
                out.append(c)
    return out


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def rtl_pynq():
    """The pynq-z2 accelerator description, its RTL verilated once per session (tvm_sepnet.fpga.cosim
    caches the build across sessions too); skips when Verilator is missing."""
    import shutil

    from tvm_sepnet.fpga.cosim import build_model
    from tvm_sepnet.targets.accelerator import load_spec

    if shutil.which("verilator") is None:
        pytest.skip("verilator is not installed (bash scripts/install_system_packages.sh installs it)")
    spec = load_spec("pynq-z2")
    build_model(spec)
    return spec
