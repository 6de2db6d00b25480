"""``tvm-sepnet eval``: accuracy of a trained model on the digits test split, three ways, and how well
they agree.

* **trainer**: the ONNX file as its trainer defined it: qonnx's executor
  (``qonnx.core.onnx_exec.execute_onnx`` after ``qonnx.util.cleanup.cleanup_model``) when it has QONNX
  nodes, else onnxruntime;
* **reference**: tvm-sepnet's reference executor (numpy) on the compiled artifact's quantized graph;
* **compiled**: the artifact built for ``target``, run on this machine (``x86``, ``fpga-sim:*``) or, with
  ``host``/``port``, on an RPC board (``tvm-sepnet device start --arch arm64``: the artifact is exported,
  uploaded once, and every image goes through the board's VM).

Agreement: the fraction of test images whose top-1 class is the same, and the largest absolute
difference of the logits, for compiled vs trainer, reference vs trainer and compiled vs reference. A
confusion matrix of the compiled model's predictions is written as a PNG.
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import InvalidModelError, SepnetError
from ..figures import save_figure, subplots
from ..progress import bar

DATASETS = ("digits",)


def trainer_runner(path: str):
    """A function image (1, C, H, W) -> logits of the ONNX file as its trainer defined it, and its name."""
    import onnx

    from ..frontend.onnx_quantizers import QONNX_DOMAINS

    model = onnx.load(path)
    if any(n.domain in QONNX_DOMAINS for n in model.graph.node):
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx
        from qonnx.util.cleanup import cleanup_model

        wrapped = cleanup_model(ModelWrapper(path))
        iname, oname = wrapped.graph.input[0].name, wrapped.graph.output[0].name
        return (lambda x: execute_onnx(wrapped, {iname: x})[oname]), "qonnx executor"
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    iname = sess.get_inputs()[0].name
    return (lambda x: sess.run(None, {iname: x})[0]), "onnxruntime"


def _agreement(a: np.ndarray, b: np.ndarray) -> dict:
    return {"identical_predictions": float((a.argmax(1) == b.argmax(1)).mean()),
            "max_abs_diff": float(np.abs(a - b).max())}


def confusion_png(labels: np.ndarray, preds: np.ndarray, path: str, title: str) -> str:
    n = int(max(labels.max(), preds.max())) + 1
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (labels, preds), 1)
    fig, ax = subplots(figsize=(5, 4.5))
    ax.imshow(cm, cmap="Blues")
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def remote_runner(art, host: str, port: int):
    """A function image -> logits running ``art`` on the RPC board at host:port (checked like ``deploy``)."""
    import tempfile

    from tvm import relax

    from ..artifact import LIB_NAME
    from ..device.deploy import DeployError, _fetch_outputs, _tensor, artifact_machine, connect, device_info

    remote, where = connect(host, port, timeout=3600.0)  # one session for every image
    info = device_info(remote)
    want = artifact_machine(art.meta)
    if info is not None and info.get("machine") != want:
        raise DeployError(f"device {where} is {info.get('machine')}, the artifact is built for {art.meta['target']}")
    with tempfile.TemporaryDirectory() as tmp:
        path = art.export(os.path.join(tmp, "art"))
        remote.upload(os.path.join(path, LIB_NAME), LIB_NAME)
    vm = relax.VirtualMachine(remote.load_module(LIB_NAME), remote.cpu())
    dev = remote.cpu()
    return lambda x: _fetch_outputs(remote, vm["main"](_tensor(x, dev)))[0], info


def evaluate(model_path: str, dataset: str = "digits", target: str = "x86", limit: int | None = None,
             png: str | None = None, host: str | None = None, port: int | None = None) -> dict:
    """The accuracies and agreements of the module docstring (a JSON-able dict)."""
    from ..builder import build
    from ..frontend import load_onnx
    from .data import digits

    if dataset not in DATASETS:
        raise SepnetError(f"unknown dataset {dataset!r}; datasets: {', '.join(DATASETS)}")
    if not model_path.lower().endswith(".onnx"):
        raise InvalidModelError(f"{model_path!r}: eval takes an .onnx file (QONNX or QDQ from a trainer)")
    loaded = load_onnx(model_path)
    art = build(loaded.mod, target, layer_names=loaded.layer_names, quantizers=loaded.quantizers)
    spec = art.input_specs[0]
    shape = tuple(spec["shape"])
    if len(shape) != 4 or shape[1] != 1 or shape[2] != shape[3] or shape[2] % 8:
        raise InvalidModelError(f"{model_path!r}: input {spec['name']!r} has shape {list(shape)}; the digits data set "
                                "needs one-channel square images of side 8*k")
    data = digits(factor=shape[2] // 8)
    x, y = data["x_test"][:limit], data["y_test"][:limit]
    run_trainer, trainer_name = trainer_runner(model_path)
    reference = art.reference()
    device = None
    if host is not None:
        run_compiled, device = remote_runner(art, host, port)
    else:
        run_compiled = lambda xi: art.run({spec["name"]: xi})[0]  # noqa: E731
    outs = {"trainer": [], "reference": [], "compiled": []}
    with bar(len(x), f"eval {os.path.basename(model_path)}", unit="image") as progress:
        for i in range(len(x)):
            xi = np.ascontiguousarray(np.broadcast_to(x[i:i + 1], shape)[:1]) if shape[0] == 1 else x[i:i + 1]
            outs["trainer"].append(np.asarray(run_trainer(xi)).reshape(1, -1))
            outs["reference"].append(reference.run({spec["name"]: xi})[0].reshape(1, -1))
            outs["compiled"].append(run_compiled(xi).reshape(1, -1))
            progress.update(1)
    logits = {k: np.concatenate(v) for k, v in outs.items()}
    result = {"model": model_path, "dataset": dataset, "images": int(len(x)), "target": art.meta["target"],
              "trainer_executor": trainer_name, "trainer_layers": len(loaded.quantizers),
              "accuracy": {k: float((v.argmax(1) == y).mean()) for k, v in logits.items()},
              "agreement": {"compiled_vs_trainer": _agreement(logits["compiled"], logits["trainer"]),
                            "reference_vs_trainer": _agreement(logits["reference"], logits["trainer"]),
                            "compiled_vs_reference": _agreement(logits["compiled"], logits["reference"])},
              "weight_bytes": int(art.meta["weight_bytes_total"]), "device": device}
    if png is None:
        png = os.path.splitext(model_path)[0] + f".{target.replace(':', '_')}.confusion.png"
    result["confusion_png"] = confusion_png(y, logits["compiled"].argmax(1), png,
                                            f"{os.path.basename(model_path)} on {result['target']}: "
                                            f"{result['accuracy']['compiled'] * 100:.1f} %")
    return result
