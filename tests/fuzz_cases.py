"""Seeded mutations of a tiny ONNX model, of an artifact folder and of a .npy input, for
tests/test_fuzz_inputs.py. Each generator yields ``(label, apply)`` pairs; ``apply`` writes the mutated
input to the path it is given."""
from __future__ import annotations

import copy
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ONNX_TYPES = [t for t in TensorProto.DataType.values() if t != TensorProto.UNDEFINED]


def tiny_model(seed: int = 0, size: int = 8) -> onnx.ModelProto:
    """conv1 (3x3, 3->8, bias) -> Relu -> conv2 (3x3, 8->8) -> MaxPool -> Flatten -> Gemm (10 classes)."""
    rng = np.random.default_rng(seed)

    def init(name, shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)

    inits = [init("w1", (8, 3, 3, 3)), init("b1", (8,)), init("w2", (8, 8, 3, 3)), init("fc.w", (10, 8 * (size // 2) ** 2)),
             init("fc.b", (10,))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["c2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p2"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _absurd_attr(rng, name):
    """An absurd value for a conv / pool attribute (or a wrong type)."""
    choices = {
        "kernel_shape": [[0, 0], [100, 100], [3], [-1, -1], [3, 3, 3], [1 << 40, 1]],
        "strides": [[0, 0], [-1, -1], [1000, 1000], [1], [1 << 40, 1]],
        "pads": [[-5] * 4, [1000] * 4, [1, 1], [1 << 40] * 4, [0] * 6],
        "dilations": [[0, 0], [100, 100], [-2, -2], [1]],
        "group": [0, -1, 3, 1000, 1 << 40],
        "auto_pad": ["BOGUS", "SAME_UPPER", "VALID", ""],
        "transB": [7, -1],
        "axis": [-99, 99],
    }
    values = choices.get(name)
    if values is None or rng.random() < 0.15:  # wrong attribute type
        return rng.choice(["text", 1.5])
    return values[rng.integers(len(values))]


def onnx_mutations(base: onnx.ModelProto, rng: np.random.Generator, count: int):
    """``count`` (label, ModelProto or bytes) mutations of ``base``."""
    kinds = ["drop_node_input", "drop_graph_input", "drop_initializer", "drop_node", "dangling_input", "cycle",
             "weight_shape", "input_shape", "input_dtype", "init_dtype", "attr", "op_type", "bad_output", "opset",
             "truncate", "bitflip", "nan_weights", "huge_dims", "duplicate_output", "attr"]
    for i in range(count):
        kind = kinds[i % len(kinds)]
        m = copy.deepcopy(base)
        g = m.graph
        node = g.node[int(rng.integers(len(g.node)))]
        label = f"onnx/{kind}/{i}"
        if kind == "drop_node_input" and len(node.input) > 0:
            del node.input[int(rng.integers(len(node.input)))]
        elif kind == "drop_graph_input":
            del g.input[0]
        elif kind == "drop_initializer":
            del g.initializer[int(rng.integers(len(g.initializer)))]
        elif kind == "drop_node":
            del g.node[int(rng.integers(len(g.node)))]
        elif kind == "dangling_input":
            node.input[int(rng.integers(len(node.input)))] = f"nowhere{i}"
        elif kind == "cycle":  # an earlier node reads a later node's output (or its own)
            j = int(rng.integers(len(g.node)))
            g.node[int(rng.integers(j + 1))].input[0] = g.node[j].output[0]
        elif kind == "weight_shape":
            k = int(rng.integers(len(g.initializer)))
            shape = tuple(int(d) for d in rng.integers(0, 10, size=int(rng.integers(0, 6))))
            g.initializer[k].CopyFrom(numpy_helper.from_array(np.ones(shape, np.float32), g.initializer[k].name))
        elif kind == "input_shape":
            dims = g.input[0].type.tensor_type.shape
            del dims.dim[:]
            for _ in range(int(rng.integers(0, 7))):
                d = dims.dim.add()
                v = int(rng.choice([0, 1, 2, 3, 7, 33, -1, -7]))
                if rng.random() < 0.2:
                    d.dim_param = "N"
                else:
                    d.dim_value = v
        elif kind == "input_dtype":
            g.input[0].type.tensor_type.elem_type = int(rng.choice(ONNX_TYPES))
        elif kind == "init_dtype":
            k = int(rng.integers(len(g.initializer)))
            arr = numpy_helper.to_array(g.initializer[k])
            dtype = rng.choice([np.int8, np.int64, np.float16, np.float64, np.bool_, np.uint8, np.int32])
            g.initializer[k].CopyFrom(numpy_helper.from_array(arr.astype(dtype), g.initializer[k].name))
        elif kind == "attr":
            if node.attribute and rng.random() < 0.8:
                a = node.attribute[int(rng.integers(len(node.attribute)))]
                name = a.name
                node.attribute.remove(a)
            else:
                name = str(rng.choice(["kernel_shape", "strides", "group", "dilations", "auto_pad", "foo"]))
            node.attribute.append(helper.make_attribute(name, _absurd_attr(rng, name)))
        elif kind == "op_type":
            node.op_type = str(rng.choice(["Gemm", "Relu", "Conv", "MaxPool", "Add", "Foo", "Loop", "Softmax", "Sign"]))
        elif kind == "bad_output":
            if rng.random() < 0.5:
                g.output[0].name = "not_produced"
            else:
                g.output[0].type.tensor_type.shape.dim[1].dim_value = 7
        elif kind == "opset":
            m.opset_import[0].version = int(rng.choice([1, 6, 99]))
            if rng.random() < 0.3:
                m.opset_import[0].domain = "com.example"
        elif kind == "nan_weights":
            k = int(rng.integers(len(g.initializer)))
            arr = numpy_helper.to_array(g.initializer[k]).copy()
            arr.flat[int(rng.integers(arr.size))] = rng.choice([np.nan, np.inf, -np.inf, 3e38])
            g.initializer[k].CopyFrom(numpy_helper.from_array(arr, g.initializer[k].name))
        elif kind == "huge_dims":
            dims = g.input[0].type.tensor_type.shape.dim
            dims[int(rng.integers(len(dims)))].dim_value = int(rng.choice([100_000, 1 << 31, 1 << 40]))
        elif kind == "duplicate_output":
            g.node[0].output[0] = g.node[-1].output[0]
        data = m.SerializeToString()
        if kind == "truncate":
            data = data[: int(rng.integers(1, len(data)))]
        elif kind == "bitflip":
            buf = bytearray(data)
            for _ in range(int(rng.integers(1, 4))):
                buf[int(rng.integers(len(buf)))] ^= 1 << int(rng.integers(8))
            data = bytes(buf)
        yield label, data


def file_mutations(folder: str, rng: np.random.Generator, count: int):
    """``count`` (label, {file name: new bytes or None (deleted)}) mutations of the files of ``folder``:
    truncations, bit flips, emptied and deleted files."""
    names = sorted(os.listdir(folder))
    for i in range(count):
        name = names[i % len(names)]
        data = open(os.path.join(folder, name), "rb").read()
        kind = ["truncate", "bitflip", "bitflip", "truncate", "empty", "delete", "bitflip"][int(rng.integers(7))]
        if kind == "truncate":
            new = data[: int(rng.integers(0, len(data)))]
        elif kind == "bitflip":
            buf = bytearray(data)
            for _ in range(int(rng.integers(1, 4))):
                buf[int(rng.integers(len(buf)))] ^= 1 << int(rng.integers(8))
            new = bytes(buf)
        elif kind == "empty":
            new = b""
        else:
            new = None
        yield f"artifact/{name}/{kind}/{i}", {name: new}


def npy_mutations(x: np.ndarray, rng: np.random.Generator, count: int):
    """``count`` (label, bytes of a .npy file) mutations of array ``x``: truncations, header and data
    bit flips, other shapes and dtypes, NaN/Inf values, not a .npy at all."""
    import io

    def npy(a):
        f = io.BytesIO()
        np.save(f, a)
        return f.getvalue()

    good = npy(x)
    header = good.index(b"\n") + 1
    for i in range(count):
        kind = ["truncate", "header_flip", "data_flip", "shape", "dtype", "nan", "garbage", "header_flip"][i % 8]
        if kind == "truncate":
            data = good[: int(rng.integers(0, len(good)))]
        elif kind in ("header_flip", "data_flip"):
            buf = bytearray(good)
            lo, hi = (0, header) if kind == "header_flip" else (header, len(good))
            buf[int(rng.integers(lo, hi))] ^= 1 << int(rng.integers(8))
            data = bytes(buf)
        elif kind == "shape":
            data = npy(rng.standard_normal(tuple(int(d) for d in rng.integers(0, 9, size=int(rng.integers(0, 5)))))
                       .astype(np.float32))
        elif kind == "dtype":
            data = npy(x.astype(rng.choice([np.float64, np.float16, np.int8, np.int64, np.uint8, np.bool_, np.complex64])))
        elif kind == "nan":
            y = x.copy()
            y.flat[int(rng.integers(y.size))] = rng.choice([np.nan, np.inf, -np.inf])
            data = npy(y)
        else:
            data = bytes(rng.integers(0, 256, size=int(rng.integers(0, 300)), dtype=np.uint8))
        yield f"npy/{kind}/{i}", data
