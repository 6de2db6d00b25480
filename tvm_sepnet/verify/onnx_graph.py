"""A small ONNX graph writer (opset 17) and the onnxruntime session the oracle runs it in."""
from __future__ import annotations

import numpy as np

OPSET = 17


class OnnxGraph:
    """Nodes, initializers, inputs and outputs of one ONNX graph; every value gets a fresh name."""

    def __init__(self, name: str):
        self.name = name
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"t{self._count}_{hint}"

    def const(self, array, hint: str = "c") -> str:
        from onnx import numpy_helper

        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def scalar(self, value: float, dtype=np.float32) -> str:
        return self.const(np.array(value, dtype), "k")

    def op(self, op_type: str, inputs: list, hint: str | None = None, **attrs) -> str:
        from onnx import helper

        out = self.fresh(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, [i if i is not None else "" for i in inputs], [out], **attrs))
        return out

    def add_input(self, name: str, shape, dtype: str = "float32") -> str:
        from onnx import helper

        self.inputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)),
                                                         list(shape)))
        return name

    def add_output(self, value: str, name: str, shape) -> str:
        """Expose float32 ``value`` of ``shape`` as graph output ``name``."""
        from onnx import TensorProto, helper

        self.nodes.append(helper.make_node("Identity", [value], [name]))
        self.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        return name

    def model(self):
        import onnx
        from onnx import helper

        used = {i for n in self.nodes for i in n.input}
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs,
                                  [t for t in self.initializers if t.name in used])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tvm-sepnet twin")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def run_onnxruntime(model, feeds: dict, outputs: list[str] | None = None) -> list[np.ndarray]:
    """Run ``model`` in onnxruntime on the CPU with graph optimizations off (the ops run as written:
    no rewrite of a division into a multiplication, no fusion that changes rounding)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 2
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(outputs, {k: np.ascontiguousarray(v) for k, v in feeds.items()})
