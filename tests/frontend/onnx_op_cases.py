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
