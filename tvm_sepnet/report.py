"""Layer tables: kind, shapes and stored weight bytes of every layer of a quantized graph."""
from __future__ import annotations

import json

import numpy as np

from .ops import ConvAttrs


def _theoretical_bits(attrs: ConvAttrs, w: np.ndarray) -> int:
    """Bits the layer's weights need in principle: 1 per binary weight, 8 per int8, 32 per float,
    plus 32 per output channel for the scale (low-bit layers) and 32 for the bias."""
    o, cg, (kh, kw) = attrs.channels, attrs.channels_per_group, attrs.kernel
    per = {"binary": 1, "int8": 8, "float": 32}[attrs.weight_format]
    scale_bits = 32 * o if attrs.weight_format != "float" else 0
    return per * o * cg * kh * kw + scale_bits + 32 * o


#: what each layer role is and the weight format the default compile config gives it (docs/lowbit.md)
ROLES = {
    "first": "the network's first conv: float (keep_first)",
    "pattern": "k×k conv, several input channels per group: binary (kxk)",
    "depthwise": "k×k conv, one input channel per group: int8 (depthwise)",
    "pointwise": "1×1 conv: int8 (pointwise)",
    "squeeze_excite": "1×1 conv on a 1×1 map (squeeze-and-excitation): int8 (pointwise)",
    "dense": "matmul / Gemm by a constant matrix (the classifier): float (dense), as a 1×1 layer int8",
    "rule": "weight format set by a per-layer rule (--layer / --config, tvm_sepnet.layer_precision)",
}


def layer_role(attrs: ConvAttrs, in_shape, first: bool) -> str:
    """The role of a conv layer (a key of :data:`ROLES`), which decides its default weight format."""
    if attrs.dense:
        return "dense"
    if first:
        return "first"
    if attrs.is_depthwise:
        return "depthwise"
    if attrs.is_pointwise:
        return "squeeze_excite" if in_shape is not None and list(in_shape[2:]) == [1, 1] else "pointwise"
    return "pattern"


def layer_table(graph: dict, consts: dict, choices: dict | None = None, traffic: dict | None = None,
                settings: dict | None = None) -> dict:
    """``{"layers": [...], "weight_bytes_total": int, "weight_bytes_theoretical": int}``.

    Each conv layer row: name, kind (binary_conv, binary_weight_conv, int8_conv, float_conv), role (the
    rule that chose its weight format: :data:`ROLES`), kernel (what it was lowered to), in/out shapes,
    weight_bytes (packed weights + scales + bias as stored), bytes_read / bytes_written (activation tensors
    its kernels read and write, constants excluded); role is ``rule`` where ``settings`` (per-layer rules:
{layer: settings}) set the weights. Other nodes that hold constants are rows of kind
    ``other``: a dense matmul (role ``dense``, named after its layer) and the biases and scales (named
    ``op@layer`` after the row before them); scalar constants count in the totals without a row."""
    shapes = {s["name"]: s["shape"] for s in graph["inputs"]}
    rows, total, theory = [], 0, 0
    choices = choices or {}
    traffic = traffic or {}
    for node in graph["nodes"]:
        if node.get("shape") is not None:
            shapes[node["name"]] = node["shape"]
        const_args = [consts[a["const"]] for a in node["args"] if "const" in a]
        if node["op"] == "sepnet.conv2d":
            attrs = ConvAttrs.from_json(json.dumps(node["attrs"]))
            w, w_scale, bias = const_args
            in_shape = shapes.get(node["args"][0].get("var"))
            out_shape = node.get("shape")
            stored = w.nbytes + bias.nbytes + (w_scale.nbytes if attrs.weight_format != "float" else 0)
            bits = _theoretical_bits(attrs, w)
            role = layer_role(attrs, in_shape, first=not any(r["kind"] != "other" for r in rows))
            if "weights" in (settings or {}).get(attrs.name, {}):
                role = "rule"
            rows.append({"name": attrs.name, "kind": attrs.kind, "role": role,
                         "kernel": choices.get(attrs.name, attrs.weight_format),
                         "in_shape": in_shape, "out_shape": out_shape, "kernel_size": list(attrs.kernel),
                         "groups": attrs.groups, "weight_bytes": int(stored), "kernel_reason": attrs.impl_reason or None,
                         "bytes_read": traffic.get(attrs.name, {}).get("read"),
                         "bytes_written": traffic.get(attrs.name, {}).get("written")})
            total += stored
            theory += bits
            continue
        if const_args and node["op"] not in ("reshape",):
            stored = int(sum(c.nbytes for c in const_args))
            total += stored
            theory += 8 * stored
            if node["op"] == "matmul":
                name, role = node["name"], "dense"  # bound under its layer name (WrapConvLayers)
            elif all(c.size <= 1 for c in const_args):
                continue  # a scalar operand (HardSwish's 3, a clip bound): counted, not listed
            else:  # a bias or scale, named after the layer it follows
                name, role = f"{node['op']}@{rows[-1]['name'] if rows else 'input'}", "other"
            rows.append({"name": name, "kind": "other", "role": role, "kernel": node["op"], "in_shape": None,
                         "out_shape": None, "kernel_size": None, "groups": None, "weight_bytes": stored})
    moved = sum((t.get("read", 0) + t.get("written", 0)) for t in traffic.values())
    return {"layers": rows, "weight_bytes_total": int(total), "weight_bytes_theoretical": int(-(-theory // 8)),
            "activation_bytes_moved": int(moved)}


def format_table(meta: dict) -> str:
    """The layer table as aligned text."""
    lines = [f"{'layer':30} {'kind':19} {'role':14} {'kernel':22} {'out shape':18} {'weight bytes':>12} "
             f"{'read B':>10} {'written B':>10}"]
    for r in meta["layers"]:
        shape = "x".join(map(str, r["out_shape"])) if r["out_shape"] else "-"
        rd, wr = r.get("bytes_read"), r.get("bytes_written")
        lines.append(f"{r['name'][:30]:30} {r['kind']:19} {r.get('role', '-'):14} {str(r['kernel'])[:22]:22} {shape:18} "
                     f"{r['weight_bytes']:>12,} {rd if rd is not None else '-':>10} {wr if wr is not None else '-':>10}")
        if r.get("kernel_reason"):
            lines.append(f"{'':30}   kernel choice: {r['kernel_reason']}")
    lines.append(f"{'total':30} {'':19} {'':14} {'':22} {'':18} {meta['weight_bytes_total']:>12,}"
                 f"  ({meta['weight_bytes_total'] / 1e6:.3f} MB; theoretical {meta['weight_bytes_theoretical'] / 1e6:.3f} MB)")
    if meta.get("activation_bytes_moved") is not None:
        lines.append(f"activation bytes read + written by the layers' kernels: {meta['activation_bytes_moved']:,}")
    return "\n".join(lines)
