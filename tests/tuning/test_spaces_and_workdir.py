"""Design spaces (every sampled point is a correct kernel), trial allocation, and the work
directory's lock and crash repair."""
import json
import os

import numpy as np
import pytest
import tvm
from tvm import s_tir

from schedules.bitserial_conv2d import reference as ref
from schedules.bitserial_conv2d.kernel import bitserial_conv2d_prim_func
from schedules.bitserial_conv2d.space import space as bitserial_conv2d_space
from schedules.quantize.space import space as quantize_space
from schedules.schedule_utils import workload_module
from tests.schedules.test_bitserial_conv2d import _problem
from tvm_sepnet.autotune.budget import allocate_trials, cap_total
from tvm_sepnet.tuning.workdir import RECORDS, WorkDir, WorkDirBusyError, repair_json_lines


def assert_sampled_points_exact(space, func, args, expected, target, seeds) -> int:
    """Compile and run every design space of ``space`` sampled with each seed on ``func``; each must
    give exactly ``expected``. Returns how many distinct decision sets were seen."""
    seen = set()
    for seed in seeds:
        spaces = space(s_tir.Schedule(workload_module(func), seed=seed))
        for sch in spaces if isinstance(spaces, list) else [spaces]:
            seen.add(tuple(str(v) for v in sch.trace.decisions.values()))
            lib = tvm.compile(sch.mod, target)
            out = tvm.runtime.empty(expected.shape, str(expected.dtype))
            lib["main"](*[tvm.runtime.tensor(a) for a in args], out)
            np.testing.assert_array_equal(out.numpy(), expected)
    return len(seen)


@pytest.mark.parametrize("residual", [False, True])
def test_sampled_bitserial_schedules_are_bit_exact(target, residual):
    rng = np.random.default_rng(5)
    _, _, xcol, wk, scale, offset = _problem(rng, 1, 64, 10, 12, 32, 3, 4, 2, 64, padding=1)
    n, _, ho, _, _, wo = xcol.shape
    res = rng.standard_normal((n, wk.shape[0], ho, wo)).astype(np.float32)
    expected = ref.bitserial_conv2d(xcol, wk, scale, offset, relu=True, residual=res if residual else None)
    func = bitserial_conv2d_prim_func(xcol.shape, wk.shape, "uint64", relu=True, residual=residual, family=None)
    args = [xcol, wk, scale, offset] + ([res] if residual else [])
    assert assert_sampled_points_exact(bitserial_conv2d_space, func, args, expected, target, range(1, 7)) > 3


@pytest.mark.parametrize("shape, kind, params", [
    ((1, 64, 14, 14), "quantize", {"lo": 0, "hi": 255, "out_dtype": "uint8"}),
    ((1, 32, 6, 10), "quantize", {"lo": -127, "hi": 127, "out_dtype": "int8"}),
    ((1, 64, 14, 14), "im2col", {"bits": 4, "groups": 4, "pack_bits": 64, "kernel": (3, 3), "strides": (1, 1),
                                 "padding": (1, 1, 1, 1), "dilation": (1, 1)}),
    ((1, 96, 10, 12), "im2col", {"bits": 3, "groups": 4, "pack_bits": 32, "kernel": (3, 3), "strides": (2, 2),
                                 "padding": (1, 1, 1, 1), "dilation": (1, 1)}),  # ragged words, stride 2
    ((1, 96, 10, 12), "bitpack", {"bits": 2, "groups": 2, "pack_bits": 32}),
])
def test_sampled_quantize_schedules_are_bit_exact(target, shape, kind, params):
    from schedules.quantize import kernel as qk
    from schedules.quantize import reference as qref

    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    inv = np.array([1.3], np.float32)
    build, reference = {"quantize": (qk.quantize_prim_func, qref.quantize),
                        "im2col": (qk.quantize_bitpack_im2col_prim_func, qref.quantize_bitpack_im2col),
                        "bitpack": (qk.quantize_bitpack_prim_func, qref.quantize_bitpack)}[kind]
    expected = reference(x, inv, *params.values()) if kind == "quantize" else reference(x, inv, **params)
    func = build(shape, family=None, **params)
    # structures: own nest or computed at the bit-packing row, pad as its own nest or inlined
    assert assert_sampled_points_exact(quantize_space, func, [x, inv], expected, target, range(1, 5)) > 3


def test_planned_trials_never_exceed_what_is_left_of_the_budget():
    # heaviest task first: the lightest ones are cut (trials of workloads no longer lowered count)
    assert cap_total([5, 3, 2], 7) == [5, 2, 0]
    assert cap_total([5, 3, 2], 20) == [5, 3, 2] and cap_total([4, 1], 0) == [0, 0]


def test_allocate_trials_by_share():
    assert allocate_trials([3.0, 1.0], 8) == [6, 2]
    assert sum(allocate_trials([5.0, 3.0, 1.0, 1.0], 7)) == 7
    assert allocate_trials([1.0, 0.0], 3) == [3, 0]
    assert allocate_trials([2.0, 1.0], 0) == [0, 0]


def test_second_run_on_a_locked_dir_is_refused(tmp_path):
    with WorkDir(str(tmp_path / "w")):
        with pytest.raises(WorkDirBusyError, match=r"in use by another tvm-sepnet tune \(pid \d+\)"):
            WorkDir(str(tmp_path / "w"))
    WorkDir(str(tmp_path / "w")).close()  # released on exit


def test_truncated_last_record_is_dropped_and_the_rest_kept(tmp_path):
    path = tmp_path / RECORDS
    good = [json.dumps([0, [["trace"], [1e-5], {"kind": "llvm"}, []]]), json.dumps([1, [["t"], [2e-5], {}, []]])]
    path.write_text("\n".join(good) + "\n" + good[0][:17])
    assert repair_json_lines(str(path)) == 1
    assert path.read_text().splitlines() == good
    assert (tmp_path / (RECORDS + ".corrupt")).read_text().strip() == good[0][:17]
    assert repair_json_lines(str(path)) == 0


def test_missing_dir_for_build_is_a_clear_error(tmp_path):
    from tvm_sepnet.errors import SepnetError

    with pytest.raises(SepnetError, match="does not exist; run tvm-sepnet tune"):
        WorkDir(str(tmp_path / "nope"), lock=False, create=False)
    assert not os.path.exists(tmp_path / "nope")


@pytest.mark.parametrize("x_shape,w_shape,padding,groups,residual", [
    ((1, 64, 14, 14), (64, 16, 1, 1), 0, 4, True),  # the PRB 1x1 (Cg 16: direct kernel)
    ((1, 24, 9, 9), (16, 12, 3, 3), 1, 2, False),  # 3x3 with a pad stage
])
def test_sampled_int8_direct_schedules_are_bit_exact(target, x_shape, w_shape, padding, groups, residual):
    from schedules.int8_conv2d import reference as int8_ref
    from schedules.int8_conv2d.kernel import int8_conv2d_prim_func
    from schedules.int8_conv2d.space import space as int8_conv2d_space
    from tests.schedules.test_int8_conv2d import random_case

    rng = np.random.default_rng(9)
    xq, wq, scale, offset = random_case(rng, x_shape, "uint8", w_shape)
    geo = dict(padding=padding, groups=groups)
    ho = x_shape[2] + 2 * padding - w_shape[2] + 1
    res = rng.standard_normal((1, w_shape[0], ho, ho)).astype(np.float32)
    expected = int8_ref.int8_conv2d(xq, wq, scale, offset, relu=True, residual=res if residual else None, **geo)
    func = int8_conv2d_prim_func(x_shape, "uint8", w_shape, relu=True, residual=residual, family=None, **geo)
    args = [xq, wq, scale, offset] + ([res] if residual else [])
    assert assert_sampled_points_exact(int8_conv2d_space, func, args, expected, target, range(1, 6)) > 2


def test_a_reader_never_rewrites_the_files_of_a_running_tuner(tmp_path):
    wd_path = tmp_path / "w"
    wd_path.mkdir()
    workloads = wd_path / "database_workload.json"
    records = wd_path / RECORDS
    workloads.write_text(json.dumps(["123", "x"]) + "\n")
    good = json.dumps([0, [["trace"], [2e-5, 4e-5], {"kind": "llvm"}, []]])
    records.write_text(good + "\n" + good[:20])  # a line still being appended by the tuner
    before = records.read_bytes()
    reader = WorkDir(str(wd_path), lock=False, create=False)
    assert reader.dropped == 0 and reader.measurements() == [("123", pytest.approx(3e-5))]
    assert records.read_bytes() == before and not (tmp_path / "w" / (RECORDS + ".corrupt")).exists()


def test_sampled_float_conv_schedules_match_the_reference(target):
    """The float first conv's space (float64 accumulation, tiled like the int8 direct kernel): every
    sampled point equals the reference's float64-accumulated, once-rounded result."""
    from schedules.float_conv2d_exact import reference as float_ref
    from schedules.float_conv2d_exact.kernel import float_conv2d_exact_prim_func
    from schedules.float_conv2d_exact.space import space as float_conv2d_exact_space

    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 3, 20, 20)).astype(np.float32)
    w = rng.standard_normal((16, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    geo = dict(strides=(2, 2), padding=1, relu=True)
    expected = float_ref.float_conv2d_exact(x, w, b, **geo)
    func = float_conv2d_exact_prim_func(x.shape, w.shape, family=None, **geo)
    assert assert_sampled_points_exact(float_conv2d_exact_space, func, (x, w, b), expected, target, range(1, 6)) > 2


def test_sampled_generic_schedules_of_pooling_are_exact(target):
    """The generic space (legalized max pooling with its pad block, both structures, sampled vector
    widths) gives exactly the pooled values; the hand rule is its baseline."""
    from tvm import relax

    from relay_passes.pipeline import legalize_generic_ops
    from schedules.generic.space import is_generic_task
    from schedules.generic.space import space as generic_space

    bb = relax.BlockBuilder()
    xv = relax.Var("x", relax.TensorType((1, 8, 30, 30), "float32"))
    with bb.function("main", [xv]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.max_pool2d(xv, pool_size=(3, 3), strides=(2, 2), padding=(1, 1, 1, 1)))
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    funcs = [f for _, f in legalize_generic_ops(bb.get()).functions_items() if isinstance(f, tvm.tirx.PrimFunc)]
    assert len(funcs) == 1 and is_generic_task(funcs[0])
    x = np.random.default_rng(3).standard_normal((1, 8, 30, 30)).astype(np.float32)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    expected = np.max([padded[:, :, dy:dy + 29:2, dx:dx + 29:2] for dy in range(3) for dx in range(3)], axis=0)
    assert assert_sampled_points_exact(generic_space, funcs[0], (x,), expected, target, range(1, 5)) > 2


def test_a_directory_timed_another_way_is_refused_for_tuning(tmp_path):
    from tvm_sepnet.errors import SepnetError
    from tvm_sepnet.targets import get_target
    from tvm_sepnet.tuning.workdir import MEASUREMENT, TARGET

    preset = get_target("x86")
    with WorkDir(str(tmp_path / "w")) as wd:
        wd.check_target(preset, create=True, measurement=MEASUREMENT)
        assert json.load(open(wd.file(TARGET)))["measurement"] == MEASUREMENT
        wd.check_target(preset, create=False, measurement=MEASUREMENT)
        with pytest.raises(SepnetError, match="timed as .*this tuner times them as .*use another --work-dir"):
            wd.check_target(preset, create=False, measurement="number=3 warm")
        wd.check_target(preset, create=False)  # a build applies records however they were timed
