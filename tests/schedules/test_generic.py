"""The generic CPU rule (schedules/generic/cpu.py) on the legalized float ops around our kernels: which loop
structure it gives elementwise, broadcast and other blocks, and that the scheduled functions compute
exactly what numpy computes with the same float32 operations."""
import numpy as np
import pytest
import tvm
from tvm import relax, s_tir

from relay_passes.target_pipeline import build_pipeline, legalize_generic_ops
from schedules.generic.cpu import schedule_generic
from tvm_sepnet.targets import get_target


def _module(shapes, body):
    """A Relax module ``main(*params) = body(bb, *params)`` over float32 inputs of ``shapes``."""
    bb = relax.BlockBuilder()
    params = [relax.Var(f"x{i}", relax.TensorType(s, "float32")) for i, s in enumerate(shapes)]
    with bb.function("main", params):
        with bb.dataflow():
            out = bb.emit_output(body(bb, *params))
        bb.emit_func_output(out)
    return bb.get()


def _hard_swish(bb, x):
    gate = bb.emit(relax.op.clip(bb.emit(relax.op.add(x, relax.const(3.0, "float32"))), 0.0, 6.0))
    return bb.emit(relax.op.multiply(x, bb.emit(relax.op.divide(gate, relax.const(6.0, "float32")))))


def _scale(bb, x, s):
    return bb.emit(relax.op.multiply(x, s))


def _transpose(bb, x):
    return bb.emit(relax.op.permute_dims(x, [0, 2, 3, 1]))


def _fused_prim_func(mod):
    mod = relax.transform.FuseTIR()(relax.transform.FuseOps()(legalize_generic_ops(mod)))
    funcs = [f for _, f in mod.functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    assert len(funcs) == 1
    return funcs[0]


def _loop_kinds(sch):
    """(extent, kind) of the loops around the scheduled function's one block, outermost first."""
    (block,) = sch.get_child_blocks(sch.get_sblock("root"))
    return [(int(sch.get(loop).extent), tvm.tirx.ForKind(int(sch.get(loop).kind)).name) for loop in sch.get_loops(block)]


def test_elementwise_blocks_become_one_parallel_loop_that_llvm_vectorizes():
    """Every operand at the output's position: all loops fused into one parallel loop (no TVM vector
    lanes, which would have to divide 14: 2 lanes)."""
    sch = schedule_generic(_fused_prim_func(_module([(1, 24, 14, 14)], _hard_swish)))
    assert _loop_kinds(sch) == [(24 * 196, "PARALLEL")]


def test_broadcast_operands_keep_the_trailing_loops_serial_and_contiguous():
    """A per-channel scale: channels in parallel, the 7 x 7 positions one serial loop (the scale
    invariant in it, the other operands contiguous)."""
    sch = schedule_generic(_fused_prim_func(_module([(1, 24, 7, 7), (1, 24, 1, 1)], _scale)))
    assert _loop_kinds(sch) == [(24, "PARALLEL"), (49, "SERIAL")]


def test_other_data_parallel_blocks_vectorize_lanes_of_the_innermost_extent():
    sch = schedule_generic(_fused_prim_func(_module([(1, 24, 7, 8)], _transpose)))
    kinds = _loop_kinds(sch)
    assert kinds[-1] == (8, "VECTORIZED") and kinds[0][1] == "PARALLEL"


@pytest.mark.parametrize("shape", [(1, 24, 7, 7), (1, 16, 14, 14), (2, 8, 28, 28), (1, 5, 3, 3)])
def test_scheduled_generic_ops_compute_what_numpy_computes(shape):
    """Hard swish, a per-channel scale and a transpose, built with the x86 pipeline (the rule applied
    after fusion), against numpy's float32 evaluation of the same operations."""
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    s = rng.standard_normal((shape[0], shape[1], 1, 1)).astype(np.float32)
    target = get_target("x86")
    cases = [
        (_module([shape], _hard_swish), [x], x * (np.clip(x + np.float32(3), 0, 6) / np.float32(6))),
        (_module([shape, s.shape], _scale), [x, s], x * s),
        (_module([shape], _transpose), [x], x.transpose(0, 2, 3, 1)),
    ]
    for mod, args, want in cases:
        ex = tvm.compile(mod, target=target.tvm_target(), relax_pipeline=build_pipeline(target))
        got = relax.VirtualMachine(ex, tvm.cpu())["main"](*[tvm.runtime.tensor(a) for a in args]).numpy()
        assert got.dtype == np.float32 and np.array_equal(got, want.astype(np.float32))


def test_the_rule_leaves_no_schedule_error_unraised():
    """The rule itself must not fail on these blocks (generic_rule swallows its errors and leaves the
    function unscheduled: scalar and single-threaded)."""
    for mod in (_module([(1, 24, 7, 7)], _hard_swish), _module([(1, 24, 7, 7), (1, 24, 1, 1)], _scale),
                _module([(1, 24, 7, 8)], _transpose)):
        assert isinstance(schedule_generic(_fused_prim_func(mod)), s_tir.Schedule)
