"""Integer dataflow: the plan of a SEP module (who reads words, who writes which formats, the fused k×k
sibling, the 8-bit skip), QuantizeSkipConnections' structure, and end to end on sepnet-bq: every
configuration bit-exact with the reference executor, with fewer bytes moved than the float dataflow."""
import numpy as np
import pytest
from tvm import relax

import tvm_sepnet
from relay_passes import FuseReLU, FuseResidualAdd, QuantizeSkipConnections
from relay_passes.pipeline import CompileConfig, run_pipeline
from relay_passes.plan_dataflow import plan_integer_dataflow
from tests.conftest import conv_layers, count_ops
from tvm_sepnet.frontend import load_zoo
from tvm_sepnet.ops import ConvAttrs, make_conv
from tvm_sepnet.targets import get_target

U8 = {"kind": "uint", "bits": 8, "scale": 0.05, "inv_scale": 20.0}
U4 = {"kind": "uint", "bits": 4, "scale": 0.3, "inv_scale": float(np.float32(1) / np.float32(0.3))}


def _sep_module(c=16, r=8):
    """stem (1x1) -> x -> reduce (1x1) -> PRB (3x3 binary as int8 || 1x1 int8, add, relu) -> restore (1x1) + x
    -> relu -> next (1x1)."""
    rng = np.random.default_rng(0)
    ones, b = np.ones(c, np.float32), np.zeros(c, np.float32)

    def w(o, i, k):
        return rng.integers(-127, 128, (o, i, k, k)).astype(np.int8)

    from schedules.bitserial_conv2d.packing import pack_weights
    signs = rng.choice(np.array([-1, 1], np.int8), (r, r, 3, 3))
    bb = relax.BlockBuilder()
    inp = relax.Var("inp", relax.TensorType((1, c, 6, 6), "float32"))
    with bb.function("main", [inp]):
        with bb.dataflow():
            x = bb.emit(make_conv(inp, w(c, c, 1), ones, b, ConvAttrs("stem", c, c, (1, 1), weight_format="int8", act=U8,
                                                                      relu=True)), name_hint="x")
            t1 = bb.emit(make_conv(x, w(r, c, 1), ones[:r], b[:r], ConvAttrs("reduce", r, c, (1, 1), weight_format="int8",
                                                                         act=U8, relu=True)), name_hint="t1")
            k = bb.emit(make_conv(t1, pack_weights(signs, 8), ones[:r], b[:r],
                                  ConvAttrs("kxk", r, r, (3, 3), padding=(1, 1, 1, 1), weight_format="binary", act=U4,
                                            impl="int8")), name_hint="k")
            p = bb.emit(make_conv(t1, w(r, r, 1), ones[:r], b[:r], ConvAttrs("pw", r, r, (1, 1), weight_format="int8", act=U8)),
                        name_hint="p")
            t2 = bb.emit(relax.op.nn.relu(bb.emit(relax.op.add(k, p))), name_hint="t2")
            y = bb.emit(make_conv(t2, w(c, r, 1), ones, b, ConvAttrs("restore", c, r, (1, 1), weight_format="int8", act=U8)),
                        name_hint="y")
            nxt = bb.emit(make_conv(bb.emit(relax.op.nn.relu(bb.emit(relax.op.add(y, x)))), w(c, c, 1), ones, b,
                                    ConvAttrs("next", c, c, (1, 1), weight_format="int8", act=U8)), name_hint="nxt")
            out = bb.emit_output(nxt)
        bb.emit_func_output(out)
    return FuseReLU()(FuseResidualAdd()(bb.get()))


def test_quantize_skip_connections_uses_the_reader_s_quantizer():
    mod = QuantizeSkipConnections()(_sep_module())
    layers = {c.attrs.name: c.attrs for c in conv_layers(mod)}
    # the module's skip is its input x, which the reduce conv reads in 8 bits: the restore layer that
    # adds x carries the reduce's quantizer; the PRB add (k's only reader is that add) stays float
    assert layers["restore"].residual and layers["restore"].residual_quant == U8
    prb = [a for a in layers.values() if a.residual and a.name != "restore"]
    assert len(prb) == 1 and prb[0].residual_quant is None
    assert count_ops(mod) == count_ops(_sep_module())  # only attributes change


def test_plan_of_a_sep_module():
    mod = _sep_module()
    plan = plan_integer_dataflow(mod["main"], get_target("x86-avx512"))
    f = plan.layers
    assert set(f) == {"stem", "reduce", "kxk", "pw", "restore", "next"}
    assert f["stem"].source == "f32"  # the graph input: quantized by the kernel's first stage
    assert all(f[n].source == "words" for n in ("reduce", "kxk", "pw", "restore", "next"))
    assert f["restore"].residual_from == "stem" and f["restore"].residual_mode == "f32p"
    assert "f32p" in f["stem"].outputs
    # the reduce writes the words of both PRB branches (A-bit and 8-bit codes)
    assert sorted(s[2] for s in f["reduce"].outputs) == [15, 255]
    # the k×k conv is computed in the 1x1 conv's kernel: no tensor of its own
    assert f["kxk"].fused_into in ("pw",) or f["pw"].fused_into == "kxk"
    fused = f["kxk"] if f["kxk"].fused_into else f["pw"]
    assert fused.outputs == []
    # one padded domain for the module (halo 1 for the 3x3 conv)
    assert {fl.pad for fl in f.values()} == {1}
    assert all(fl.isa == "vnni512" for fl in f.values())


def test_plan_reads_an_8_bit_skip_as_the_reduce_s_words():
    plan = plan_integer_dataflow(QuantizeSkipConnections()(_sep_module())["main"], get_target("x86"))
    f = plan.layers
    assert f["restore"].residual_mode == "words_u8"
    assert f["stem"].outputs == [("words", 0, 255, 20.0)]  # one tensor: what reduce reads is the skip too


def test_plan_keeps_float_where_a_float_op_reads():
    mod = _sep_module()
    plan = plan_integer_dataflow(mod["main"], get_target("x86-avx2"))
    assert "f32" in plan.layers["next"].outputs  # the graph output is float32 NCHW
    assert plan.layers["kxk"].isa == "ubsw256" and plan.layers["reduce"].isa == "generic256"


@pytest.fixture(scope="module")
def sepnet32():
    lm = load_zoo("sepnet-bq", image_size=32, num_classes=10)
    x = np.random.default_rng(5).standard_normal((1, 3, 32, 32)).astype(np.float32)
    return lm, x


@pytest.mark.parametrize("target", ["x86", "x86-avx2"])
@pytest.mark.parametrize("act_bits,choice,skip", [(4, "int8", None), (2, "int8", "float"), (8, "model", None),
                                                  (1, "bitserial", None), (2, "model", "quantized")])
def test_sepnet_integer_dataflow_is_bit_exact(sepnet32, target, act_bits, choice, skip):
    lm, x = sepnet32
    cfg = {**lm.config, "act_bits": act_bits}
    art = tvm_sepnet.build(lm.mod, target, kernel_choice=choice, skip_connections=skip, **cfg)
    res = art.check(x)
    assert res["bit_exact"], res["max_abs_err"]
    kernels = {r["name"]: r["kernel"] for r in art.layers}
    assert kernels["sep2_1_reduce"].startswith("dot:")
    if choice == "int8":
        fused = [k for k in kernels.values() if "+sep" in k]
        assert len(fused) == 18  # every pattern residual block: the k×k conv inside the 1x1 conv's kernel


@pytest.mark.slow
def test_integer_dataflow_moves_3x_fewer_bytes_at_224():
    """The issue's measure, from ``inspect``'s bytes: the float dataflow of the previous release (float32
    between layers, float skip, bitserial k×k) vs the default build."""
    lm = load_zoo("sepnet-bq")
    ints = tvm_sepnet.build(lm.mod, "x86", **lm.config).meta["activation_bytes_moved"]
    floats = tvm_sepnet.build(lm.mod, "x86", dataflow="float", skip_connections="float", kernel_choice="bitserial",
                              **lm.config).meta["activation_bytes_moved"]
    assert 3 * ints < floats, (ints, floats)


def test_pipeline_report_has_the_plan(sepnet32):
    lm, _ = sepnet32
    _, report = run_pipeline(lm.mod, "x86", CompileConfig.of(**lm.config))
    plan = report.kernels.dataflow
    assert plan.layers and all(report.kernels.traffic[name]["written"] > 0 for name, f in plan.layers.items()
                               if f.fused_into is None)
    assert all(name not in report.kernels.traffic for name, f in plan.layers.items() if f.fused_into is not None)
    _, report = run_pipeline(lm.mod, "x86", CompileConfig.of(dataflow="float", **lm.config))
    assert report.kernels.dataflow.layers == {}


def test_max_pools_between_dot_layers_run_on_words(sepnet32):
    lm, x = sepnet32
    lowered, report = run_pipeline(lm.mod, "x86", CompileConfig.of(**lm.config))
    plan = report.kernels.dataflow
    assert plan.pools, "sepnet-bq's stage pools sit between dot layers"
    before = count_ops(lm.mod).get("relax.nn.max_pool2d", 0)
    assert count_ops(lowered).get("relax.nn.max_pool2d", 0) == before - len(plan.pools)
    assert count_ops(lowered).get("call_tir:word_max_pool2d", 0) == len(plan.pools)
    for pool in plan.pools.values():
        readers = [f for f in plan.layers.values() if f.producer == pool.name]
        assert readers and all(f.source == "words" and f.input_index == 0 for f in readers)
        assert (pool.ho, pool.wo) == (pool.h // 2, pool.w // 2) and pool.pad_out == readers[0].pad
        if pool.producer is not None:  # a dot layer's words
            assert pool.spec in plan.layers[pool.producer].outputs and pool.padding == (0, 0, 0, 0)
        else:  # the float stem's output, quantized by the pool kernel (3x3 stride 2, padding 1)
            assert pool.name == "pool:pool2" and pool.pad_in == 1 and pool.pool == (3, 3)
    assert [p.producer for p in plan.pools.values()].count(None) == 1
