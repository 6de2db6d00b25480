"""Small Relax graphs for the pass tests."""
import numpy as np
from tvm import relax


def conv_net(layers, x_shape=(1, 8, 10, 10), seed=0, bn=False, relu=True, bias=True):
    """A chain of convs; ``layers`` = [(out_channels, kernel, stride, pad, groups)]; each conv gets a
    bias add, an optional batch norm and an optional relu. Returns (mod, params dict by layer)."""
    rng = np.random.default_rng(seed)
    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType(x_shape, "float32"))
    params = {}
    with bb.function("main", [x]):
        with bb.dataflow():
            h, c = x, x_shape[1]
            for i, (o, k, s, p, g) in enumerate(layers):
                w = rng.standard_normal((o, c // g, k, k)).astype("float32") * 0.3
                h = bb.emit(relax.op.nn.conv2d(h, relax.const(w), strides=s, padding=p, groups=g), name_hint=f"conv{i}")
                params[f"conv{i}.weight"] = w
                if bias:
                    b = rng.standard_normal(o).astype("float32") * 0.1
                    params[f"conv{i}.bias"] = b
                    h = bb.emit(relax.op.add(h, relax.const(b.reshape(1, o, 1, 1))))
                if bn:
                    stats = [rng.uniform(0.5, 1.5, o), rng.standard_normal(o) * 0.1, rng.standard_normal(o) * 0.1,
                             rng.uniform(0.5, 2.0, o)]
                    stats = [s_.astype("float32") for s_ in stats]
                    params[f"conv{i}.bn"] = stats
                    t = bb.emit(relax.op.nn.batch_norm(h, *[relax.const(s_) for s_ in stats], axis=1, epsilon=1e-5,
                                                       training=False))
                    h = bb.emit(relax.TupleGetItem(t, 0))
                if relu:
                    h = bb.emit(relax.op.nn.relu(h))
                c = o
            out = bb.emit_output(h)
        bb.emit_func_output(out)
    return bb.get(), params
