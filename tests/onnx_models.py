"""ONNX models written directly with onnx.helper (not by tvm-sepnet), for frontend and e2e tests."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def foreign_model(seed=0, size=32, zero_filter=False, nan_in=None, extra_node=None):
    """A small CNN with BN, 5×5 and 3×3 convs, groups, concat, max/avg pooling and a Gemm head.

    ``zero_filter``: one all-zero filter in a 3×3 conv; ``nan_in``: name of a conv whose kernel gets a
    NaN; ``extra_node``: an extra onnx NodeProto appended before the head (for unsupported-op tests)."""
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr, np.float32), name))
        return name

    def conv(name, x, cin, cout, k, stride=1, pad=0, group=1, bn=True, relu=True):
        w = rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / (cin // group * k * k))
        if zero_filter and name == "b2_3x3":
            w[1] = 0.0
        if nan_in == name:
            w[0, 0, 0, 0] = np.nan
        ins = [x, init(f"{name}.w", w), init(f"{name}.b", rng.standard_normal(cout) * 0.1)]
        nodes.append(helper.make_node("Conv", ins, [f"{name}.out"], name=name, kernel_shape=[k, k],
                                      strides=[stride, stride], pads=[pad] * 4, group=group))
        y = f"{name}.out"
        if bn:
            stats = [rng.uniform(0.6, 1.4, cout), rng.standard_normal(cout) * 0.1,
                     rng.standard_normal(cout) * 0.1, rng.uniform(0.5, 2.0, cout)]
            names = [init(f"{name}.bn.{s}", v) for s, v in zip(("g", "b", "m", "v"), stats)]
            nodes.append(helper.make_node("BatchNormalization", [y] + names, [f"{name}.bn"], name=f"{name}_bn",
                                          epsilon=1e-5))
            y = f"{name}.bn"
        if relu:
            nodes.append(helper.make_node("Relu", [y], [f"{name}.relu"], name=f"{name}_relu"))
            y = f"{name}.relu"
        return y

    x = conv("stem", "image", 3, 16, 3, stride=2, pad=1)
    a = conv("b1_5x5", x, 16, 16, 5, pad=2, group=2)
    b = conv("b1_1x1", x, 16, 16, 1)
    nodes.append(helper.make_node("Concat", [a, b], ["cat1"], name="concat1", axis=1))
    nodes.append(helper.make_node("MaxPool", ["cat1"], ["pool1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]))
    y = conv("b2_3x3", "pool1", 32, 32, 3, pad=1, group=4)
    z = conv("b2_1x1", y, 32, 48, 1, group=4, relu=False)
    s = conv("b2_skip", "pool1", 32, 48, 1, relu=False)
    nodes.append(helper.make_node("Add", [z, s], ["sum2"], name="add2"))
    nodes.append(helper.make_node("Relu", ["sum2"], ["r2"], name="relu2"))
    t = conv("b3_3x3s2", "r2", 48, 48, 3, stride=2, pad=1, group=4)
    last = t
    if extra_node is not None:
        nodes.append(extra_node(t))
        last = nodes[-1].output[0]
    nodes.append(helper.make_node("AveragePool", [last], ["ap"], name="avgpool", kernel_shape=[2, 2], strides=[2, 2]))
    nodes.append(helper.make_node("GlobalAveragePool", ["ap"], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
    init("fc.w", rng.standard_normal((10, 48)) * 0.2)
    init("fc.b", rng.standard_normal(10) * 0.1)
    nodes.append(helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(nodes, "foreign", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="onnx.helper test")
    model.ir_version = 8
    return model


def binarize_kxk_in_onnx(model, keep_first=True):
    """Copy of ``model`` with every k×k (k > 1) Conv kernel W replaced by alpha·sign(W)
    (alpha = mean|W| per output channel, sign(0) = +1); the first Conv stays float if keep_first."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    inits = {i.name: i for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    for i, node in enumerate(convs):
        if keep_first and i == 0:
            continue
        w = numpy_helper.to_array(inits[node.input[1]])
        if w.shape[2] * w.shape[3] == 1:
            continue
        alpha = np.abs(w.astype(np.float64)).reshape(w.shape[0], -1).mean(axis=1).astype(np.float32)
        wb = (np.where(w >= 0, 1.0, -1.0) * alpha.reshape(-1, 1, 1, 1)).astype(np.float32)
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(wb, node.input[1]))
    return model


def run_onnxruntime(model, x):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]
