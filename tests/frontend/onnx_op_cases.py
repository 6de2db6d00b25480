"""One small ONNX model per supported op (written with onnx.helper), for the op-by-op conformance tests.

Each case is a graph on an input ``x`` of shape (1, 8, 6, 6) (or the case's own) whose output ``y`` the
op computes, with constant inputs as initializers; onnxruntime gives the expected values.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

X_SHAPE = (1, 8, 6, 6)
_RNG = np.random.default_rng(3)


def _f(*shape, scale=1.0):
    return (_RNG.standard_normal(shape) * scale).astype(np.float32)


def _i(*values):
    return np.array(values, np.int64)


def model(nodes, inits=None, opset=17, x_shape=X_SHAPE, outputs=("y",), y_shape=None):
    """An ONNX model of ``nodes`` on input ``x`` with ``inits`` (name -> array) as initializers; the
    outputs' shapes are inferred (or ``y_shape``)."""
    graph = helper.make_graph(
        nodes, "op_case", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="onnx.helper test")
    m.ir_version = 8 if opset < 21 else 10
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(m, data_prop=True).graph.output}
    for out in m.graph.output:  # declare the outputs' shapes, as exporters do
        out.CopyFrom(inferred[out.name])
    if y_shape is not None:
        m.graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.FLOAT, list(y_shape)))
    return m


def node(op, inputs, outputs=("y",), **attrs):
    return helper.make_node(op, list(inputs), list(outputs), name=f"{op.lower()}_{outputs[0]}", **attrs)


def _unary(op, opset=17, **attrs):
    return model([node(op, ["x"], **attrs)], opset=opset)


def _binary(op):
    return model([node(op, ["x", "c"])], {"c": _f(8, 1, 1)})


CASES = {
    # convolution and normalization
    "Conv_depthwise_multiplier2": model([node("Conv", ["x", "w", "b"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                              group=8)], {"w": _f(16, 1, 3, 3), "b": _f(16)}),
    "Conv_grouped_strided": model([node("Conv", ["x", "w"], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 0],
                                        group=2)], {"w": _f(4, 4, 3, 3)}),
    "BatchNormalization": model([node("BatchNormalization", ["x", "g", "b", "m", "v"], epsilon=1e-3)],
                                {"g": _f(8), "b": _f(8), "m": _f(8), "v": np.abs(_f(8)) + 0.5}),
    "LayerNormalization": model([node("LayerNormalization", ["x", "g", "b"], axis=-1)], {"g": _f(6), "b": _f(6)}),
    "Gemm": model([node("Flatten", ["x"], ["f"]), node("Gemm", ["f", "w", "b"], transB=1)],
                  {"w": _f(10, 288), "b": _f(10)}),
    "MatMul": model([node("MatMul", ["x", "w"])], {"w": _f(6, 5)}),
    # attention as torch exports it (MaxViT): batched q·kᵀ, then ·v, with a blank in the equation
    "Einsum_attention": model([node("Einsum", ["x", "k"], ["s"], equation="bchd, bcjd -> bchj"),
                               node("Einsum", ["s", "v"], equation="bchj,bcjd->bchd")],
                              {"k": _f(1, 8, 5, 6), "v": _f(1, 8, 5, 3)}),
    # activations
    "Relu": _unary("Relu"),
    "LeakyRelu": _unary("LeakyRelu", alpha=0.1),
    "PRelu": model([node("PRelu", ["x", "s"])], {"s": _f(8, 1, 1)}),
    "Clip_relu6": model([node("Clip", ["x", "lo", "hi"])], {"lo": np.array(0, np.float32), "hi": np.array(1.5, np.float32)}),
    "Clip_min_only": model([node("Clip", ["x", "lo"])], {"lo": np.array(-0.5, np.float32)}),
    "Sigmoid": _unary("Sigmoid"),
    "HardSigmoid": _unary("HardSigmoid", alpha=1 / 6, beta=0.5),
    "HardSwish": _unary("HardSwish"),
    "Tanh": _unary("Tanh"),
    "Gelu": _unary("Gelu", opset=20),
    "Erf": _unary("Erf"),
    "Softmax": _unary("Softmax", axis=1),
    # elementwise
    "Add": _binary("Add"), "Sub": _binary("Sub"), "Mul": _binary("Mul"), "Div": _binary("Div"),
    "Max": _binary("Max"), "Min": _binary("Min"),
    # ±1 activations outside a sign layer (QONNX BipolarQuant on activations becomes Where(Less))
    "Sign": _unary("Sign"),
    "Less_Where": model([node("Less", ["x", "c"], ["m"]), node("Where", ["m", "x", "z"])], {"c": _f(8, 1, 1), "z": _f(8, 1, 1)}),
    "Pow": model([node("Pow", ["x", "e"])], {"e": np.array(2.0, np.float32)}),
    "Sqrt": model([node("Abs", ["x"], ["a"]), node("Sqrt", ["a"])]),
    "Exp": _unary("Exp"), "Neg": _unary("Neg"), "Abs": _unary("Abs"),
    "Cast_roundtrip": model([node("Cast", ["x"], ["h"], to=TensorProto.DOUBLE), node("Cast", ["h"], to=TensorProto.FLOAT)]),
    # pooling and reductions
    "MaxPool_ceil": _unary("MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1),
    "AveragePool_pads": _unary("AveragePool", kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]),
    "AveragePool_include_pad": _unary("AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                      count_include_pad=1),
    "GlobalAveragePool": _unary("GlobalAveragePool"),
    "GlobalMaxPool": _unary("GlobalMaxPool"),
    "ReduceMean_axes_input": model([node("ReduceMean", ["x", "ax"], keepdims=1)], {"ax": _i(2, 3)}, opset=18),
    "ReduceMean_axes_attr": model([node("ReduceMean", ["x"], axes=[2, 3], keepdims=0)], opset=13),
    "ReduceMax": model([node("ReduceMax", ["x", "ax"], keepdims=1)], {"ax": _i(1)}, opset=18),
    "ReduceMin": model([node("ReduceMin", ["x", "ax"], keepdims=0)], {"ax": _i(-1)}, opset=18),
    "ReduceSum": model([node("ReduceSum", ["x", "ax"], keepdims=1)], {"ax": _i(2, 3)}, opset=13),
    "ReduceL2": model([node("ReduceL2", ["x", "ax"], keepdims=1)], {"ax": _i(-1)}, opset=18),
    "ReduceL1": model([node("ReduceL1", ["x"], axes=[1], keepdims=0)], opset=13),
    "ReduceSumSquare": model([node("ReduceSumSquare", ["x", "ax"], keepdims=1)], {"ax": _i(2, 3)}, opset=18),
    "ReduceProd": model([node("ReduceProd", ["x", "ax"], keepdims=0)], {"ax": _i(1)}, opset=18),
    # F.normalize as Swin-V2 exports it: x / expand(clamp_min(norm, eps), shape(x))
    "ReduceL2_Expand_normalize": model([node("ReduceL2", ["x", "ax"], ["n"], keepdims=1),
                                        node("Clip", ["n", "eps"], ["c"]), node("Expand", ["c", "sh"], ["e"]),
                                        node("Div", ["x", "e"])],
                                       {"ax": _i(-1), "eps": np.array(1e-12, np.float32), "sh": _i(1, 8, 6, 6)},
                                       opset=18),
    # data movement
    "Concat": model([node("Concat", ["x", "c"], axis=1)], {"c": _f(1, 4, 6, 6)}),
    "Split_sizes": model([node("Split", ["x", "s"], ["a", "b"], axis=1), node("Sub", ["a", "b"])], {"s": _i(4, 4)}),
    "Split_num_outputs": model([node("Split", ["x"], ["a", "b"], axis=2, num_outputs=2), node("Mul", ["a", "b"])],
                               opset=18),
    "Slice_steps": model([node("Slice", ["x", "s", "e", "a", "t"])],
                         {"s": _i(1, 0), "e": _i(7, 5), "a": _i(1, 3), "t": _i(2, 1)}),
    "Slice_negative_end": model([node("Slice", ["x", "s", "e", "a"])], {"s": _i(2), "e": _i(-1), "a": _i(1)}),
    "Gather_channels": model([node("Gather", ["x", "i"], axis=1)], {"i": _i(0, 3, -1)}),
    "Gather_scalar": model([node("Gather", ["x", "i"], axis=2)], {"i": np.array(-2, np.int64)}),
    "Pad_constant": model([node("Pad", ["x", "p", "v"], mode="constant")],
                          {"p": _i(0, 0, 1, 2, 0, 0, 2, 1), "v": np.array(0.5, np.float32)}),
    "Pad_reflect": model([node("Pad", ["x", "p"], mode="reflect")], {"p": _i(0, 0, 1, 1, 0, 0, 1, 1)}),
    "Pad_edge_axes": model([node("Pad", ["x", "p", "", "a"], mode="edge")], {"p": _i(2, 0, 1, 3), "a": _i(2, 3)},
                           opset=18),
    "Resize_nearest_x2": model([node("Resize", ["x", "", "s"], mode="nearest")],
                               {"s": np.array([1, 1, 2, 2], np.float32)}, opset=19),
    "Resize_nearest_asymmetric_floor": model(
        [node("Resize", ["x", "", "", "z"], mode="nearest", coordinate_transformation_mode="asymmetric",
              nearest_mode="floor")], {"z": _i(1, 8, 9, 4)}, opset=13),
    "Resize_linear_half_pixel": model([node("Resize", ["x", "", "", "z"], mode="linear")], {"z": _i(1, 8, 11, 9)},
                                      opset=13),
    "Resize_linear_align_corners": model(
        [node("Resize", ["x", "", "s"], mode="linear", coordinate_transformation_mode="align_corners")],
        {"s": np.array([1, 1, 2, 2], np.float32)}, opset=19),
    "Flatten": _unary("Flatten", axis=2),
    "Reshape": model([node("Reshape", ["x", "s"])], {"s": _i(0, -1, 3)}),
    "Squeeze_Unsqueeze": model([node("Unsqueeze", ["x", "a"], ["u"]), node("Squeeze", ["u", "a"])], {"a": _i(2)}),
    "Transpose": _unary("Transpose", perm=[0, 2, 3, 1]),
    "Identity_Dropout": model([node("Identity", ["x"], ["i"]), node("Dropout", ["i"])]),
    "Constant": model([helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(_f(8, 1, 1), "c")),
                       node("Add", ["x", "c"])]),
    # shape subgraphs (folded at import): the legacy exporter's channel shuffle, with Shape/Gather/Div/Unsqueeze
    "channel_shuffle_shape_subgraph": model([
        node("Shape", ["x"], ["sh"]),
        helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0), helper.make_node("Gather", ["sh", "one"], ["c"], axis=0),
        helper.make_node("Div", ["c", "two"], ["half"]),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]), helper.make_node("Unsqueeze", ["half", "ax0"], ["h1"]),
        helper.make_node("Concat", ["n1", "two1", "h1", "minus1"], ["shape5"], axis=0),
        helper.make_node("Reshape", ["x", "shape5"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3]),
        node("Reshape", ["t", "sh"]),
    ], {"zero": np.array(0, np.int64), "one": np.array(1, np.int64), "two": np.array(2, np.int64),
        "ax0": _i(0), "two1": _i(2), "minus1": _i(-1)}, opset=13, y_shape=X_SHAPE),
    # a shape subgraph on a Reshape's output whose target shape is itself computed (Swin's window partition,
    # legacy exporter): shape inference fixes that output only once the first subgraph is folded
    "window_partition_two_rounds": model([
        node("Shape", ["x"], ["sh"]),
        helper.make_node("Gather", ["sh", "two"], ["h"], axis=0),
        helper.make_node("Div", ["h", "two"], ["hw"]),
        helper.make_node("Unsqueeze", ["hw", "ax0"], ["hw1"]),
        helper.make_node("Concat", ["n8", "hw1", "tail"], ["shape5"], axis=0),
        helper.make_node("Reshape", ["x", "shape5"], ["r"]),
        helper.make_node("Shape", ["r"], ["sh5"]),
        helper.make_node("Gather", ["sh5", "two"], ["g"], axis=0),
        helper.make_node("Mul", ["g", "two"], ["g2"]),
        helper.make_node("Unsqueeze", ["g2", "ax0"], ["g21"]),
        helper.make_node("Concat", ["n8", "g21", "six"], ["shape4"], axis=0),
        helper.make_node("Relu", ["r"], ["rr"]),
        node("Reshape", ["rr", "shape4"]),
    ], {"two": np.array(2, np.int64), "ax0": _i(0), "n8": _i(1, 8), "tail": _i(2, 6), "six": _i(6)},
        opset=13, y_shape=X_SHAPE),
    "Range_ConstantOfShape_Expand_folded": model([
        node("Shape", ["x"], ["sh"]),
        helper.make_node("ConstantOfShape", ["sh"], ["ones"], value=numpy_helper.from_array(np.ones(1, np.float32))),
        helper.make_node("Range", ["zero", "eight", "one"], ["rng"]),
        helper.make_node("Cast", ["rng"], ["rngf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["rngf", "cshape"], ["r4"]),
        helper.make_node("Expand", ["r4", "sh"], ["big"]),
        helper.make_node("Mul", ["big", "ones"], ["scale"]),
        node("Mul", ["x", "scale"]),
    ], {"zero": np.array(0, np.int64), "one": np.array(1, np.int64), "eight": np.array(8, np.int64),
        "cshape": _i(1, 8, 1, 1)}, opset=13),
}


def mobile_cnn(size=32, opset=14):
    """A small CNN with the layer kinds of torchvision's mobile models, as the legacy exporter writes them:
    a 3×3 stem with batch norm and HardSwish; a depthwise 3×3 with channel multiplier 2 and ReLU6 (Clip);
    a squeeze-and-excitation block (GlobalAveragePool, 1×1 fc1 + Relu, 1×1 fc2 + HardSigmoid, Mul); a 1×1
    projection; a channel shuffle through a Shape/Gather/Div/Concat shape subgraph; Split into a grouped 3×3
    branch and a SiLU branch, Concat; Pad + 3×3 conv; Slice; ReduceMean, Flatten and a Gemm head."""
    rng = np.random.default_rng(5)
    inits, nodes = {}, []

    def w(name, *shape, scale=None):
        fan = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        inits[name] = (rng.standard_normal(shape) * (scale or np.sqrt(2.0 / fan))).astype(np.float32)
        return name

    def conv(name, x, cin, cout, k, stride=1, pad=0, group=1, bn=True):
        ins = [x, w(f"{name}.weight", cout, cin // group, k, k)]
        if not bn:
            ins.append(w(f"{name}.bias", cout, scale=0.1))
        nodes.append(helper.make_node("Conv", ins, [f"{name}.out"], name=f"/{name}/Conv", kernel_shape=[k, k],
                                      strides=[stride, stride], pads=[pad] * 4, group=group))
        if not bn:
            return f"{name}.out"
        inits[f"{name}.bn.g"] = rng.uniform(0.5, 1.5, cout).astype(np.float32)
        inits[f"{name}.bn.b"] = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        inits[f"{name}.bn.m"] = (rng.standard_normal(cout) * 0.1).astype(np.float32)
        inits[f"{name}.bn.v"] = rng.uniform(0.5, 1.5, cout).astype(np.float32)
        nodes.append(helper.make_node("BatchNormalization", [f"{name}.out"] + [f"{name}.bn.{s}" for s in "gbmv"],
                                      [f"{name}.bn"], name=f"/{name}/BatchNormalization"))
        return f"{name}.bn"

    def add(op, ins, out, **attrs):
        nodes.append(helper.make_node(op, ins, [out] if isinstance(out, str) else out, name=f"/{out}/{op}", **attrs))
        return out

    x = conv("stem", "x", 3, 16, 3, stride=2, pad=1)
    x = add("HardSwish", [x], "hs")
    inits["zero"], inits["six"] = np.array(0, np.float32), np.array(6, np.float32)
    d = add("Clip", [conv("dw", x, 16, 32, 3, pad=1, group=16), "zero", "six"], "relu6")
    s = add("GlobalAveragePool", [d], "se.pool")
    s = add("Relu", [conv("se.fc1", s, 32, 8, 1, bn=False)], "se.relu")
    s = add("HardSigmoid", [conv("se.fc2", s, 8, 32, 1, bn=False)], "se.gate", alpha=1 / 6, beta=0.5)
    d = add("Mul", [d, s], "se.out")
    p = conv("project", d, 32, 16, 1)
    inits.update({"i0": np.array(0, np.int64), "i1": np.array(1, np.int64), "i2": np.array(2, np.int64),
                  "i3": np.array(3, np.int64), "ax0": np.array([0], np.int64), "two": np.array([2], np.int64),
                  "m1": np.array([-1], np.int64)})
    sh = add("Shape", [p], "shape")
    n, c, h, wd = (add("Gather", [sh, f"i{i}"], f"dim{i}", axis=0) for i in range(4))
    half = add("Div", [c, "i2"], "half")
    dims = [add("Unsqueeze", [v, "ax0"], f"u{i}") for i, v in enumerate((n, half, h, wd))]
    r = add("Reshape", [p, add("Concat", [dims[0], "two", dims[1], dims[2], dims[3]], "shape5", axis=0)], "r5")
    t = add("Transpose", [r], "t5", perm=[0, 2, 1, 3, 4])
    shuffled = add("Reshape", [t, add("Concat", [dims[0], "m1", dims[2], dims[3]], "shape4", axis=0)], "shuffled")
    inits["split"] = np.array([8, 8], np.int64)
    add("Split", [shuffled, "split"], ["a", "b"], axis=1)
    a = add("Relu", [conv("branch.3x3", "a", 8, 8, 3, pad=1, group=2)], "branch.relu")
    b = add("Mul", ["b", add("Sigmoid", ["b"], "sig")], "silu")
    cat = add("Concat", [a, b], "cat", axis=1)
    inits["pads"] = np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)
    padded = add("Pad", [cat, "pads"], "padded", mode="constant")
    y = add("Relu", [conv("tail.3x3", padded, 16, 24, 3, stride=2)], "tail.relu")
    inits.update({"s0": np.array([0], np.int64), "s1": np.array([20], np.int64), "sa": np.array([1], np.int64)})
    y = add("Slice", [y, "s0", "s1", "sa"], "sliced")
    inits["axes23"] = np.array([2, 3], np.int64)
    y = add("Flatten", [add("ReduceMean", [y, "axes23"], "gap", keepdims=1)], "flat")
    w("fc.weight", 10, 20, scale=0.3)
    w("fc.bias", 10, scale=0.1)
    add("Gemm", [y, "fc.weight", "fc.bias"], "y", transB=1)
    if opset < 18:  # ReduceMean takes its axes as an attribute before opset 18
        red = next(nd for nd in nodes if nd.op_type == "ReduceMean")
        del red.input[1:]
        red.attribute.append(helper.make_attribute("axes", [2, 3]))
        del inits["axes23"]
    graph = helper.make_graph(nodes, "mobile_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="pytorch")
    m.ir_version = 8
    return m
