"""The dataflow between sign layers (±1 activations, ``xnor_conv2d``): which layers read packed sign bits
written by their producer, and which outputs each sign layer's kernel writes (docs/layouts.md, "Sign bits").

A sign layer *reads bits* when its input is the output of another sign layer on the same pixel grid
(``producer``), the consumer's channels per group ``Cg`` are at most 32 or a multiple of 32 (a word is
then one chunk of consecutive output channels of the producer), and the producer's output channels are
a multiple of that chunk. The producer then writes one ``("bits", pad, Cg)`` output per distinct
(consumer halo, consumer grouping): the sign of its float32 epilogue value (``y < 0``, the consumer's
own ``sign``), in the consumer's domain (halo = the consumer's largest padding). No float tensor passes
between the two layers. Every other use of a sign layer's value (a float op, a residual, a graph output,
a layer that reads it otherwise) gets the ``"f32"`` NCHW output; a sign layer whose input is not bits
packs its float32 input in its kernel's first stage (``float_in``).

Numerics are those of the float dataflow, bit for bit: every output is computed from the same float32
epilogue value.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tvm import relax

from schedules.xnor_conv2d.kernel import DEFAULT_TILES, XNOR_ISAS, bits_chunk, choose_xnor_isa
from tvm_sepnet.ops import parse_conv

from .utils import binding_operands


@dataclass
class SignFlow:
    """How one sign layer reads and writes (see the module docstring)."""

    name: str
    isa: str
    n: int
    h: int
    w: int
    pad: int  # halo of its input domain (its largest padding)
    source: str = "f32"  # "bits" (from ``producer``) or "f32"
    producer: str | None = None
    input_index: int | None = None
    outputs: list = field(default_factory=list)  # "f32" | ("bits", pad, cg)
    tile_o: int = 8
    tile_p: int = 1

    @property
    def dense_index(self):
        return self.outputs.index("f32") if "f32" in self.outputs else None


def _tile(isa: str, og: int, chunks, knobs: dict) -> tuple[int, int]:
    to, tp = DEFAULT_TILES[isa]
    to, tp = int(knobs.get("xnor_tile_o", to)), int(knobs.get("xnor_tile_p", tp))
    limit = og
    for ch in chunks:
        limit = _gcd(limit, ch)
    while limit % to:
        to //= 2
    regs = XNOR_ISAS[isa].registers
    while to * tp + tp + 1 > regs and tp > 1:
        tp -= 1
    return max(to, 1), tp


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def plan_sign_layers(func: relax.Function, preset, knobs=None, bits_edges: bool = True) -> dict:
    """``{layer name: SignFlow}`` of every sign layer of a quantized ``main``; ``bits_edges=False``: every
    layer reads and writes float32 NCHW (the float dataflow)."""
    knobs = knobs or {}
    arch = preset.machine or "x86_64"
    convs, var_layer, uses = {}, {}, {}
    for block in func.body.blocks:
        for b in block.bindings:
            conv = parse_conv(b.value)
            if conv is not None:
                convs[conv.attrs.name] = (b.var, conv)
                var_layer[b.var.id_] = conv.attrs.name
            for i, arg in enumerate(binding_operands(b.value)):
                if isinstance(arg, relax.Var):
                    role = "input" if conv is not None and i == 1 else "other"
                    uses.setdefault(arg.id_, []).append((conv.attrs.name if conv is not None else None, role))
    for var in relax.analysis.free_vars(func.body.body):
        uses.setdefault(var.id_, []).append((None, "other"))

    flows = {}
    for name, (var, conv) in convs.items():
        a = conv.attrs
        if not a.is_sign:
            continue
        n, _, h, w = (int(v) for v in conv.x.ty.shape)
        isa = choose_xnor_isa(preset.features, arch)
        _, _, _, wo = a.out_shape((n, a.in_channels, h, w))
        if isa == "vpopcnt512" and wo <= 8 and "avx512vl" in preset.features:
            isa = "vpopcnt256"  # narrow maps: 8 lanes waste less than 16
        flows[name] = SignFlow(name, isa, n, h, w, max(a.padding))
    if bits_edges:
        for name, f in flows.items():
            conv = convs[name][1]
            src = var_layer.get(getattr(conv.x, "id_", None))
            p = flows.get(src)
            if p is None or (p.n, *convs[src][1].attrs.out_shape((p.n, 0, p.h, p.w))[2:]) != (f.n, f.h, f.w):
                continue
            cg = conv.attrs.channels_per_group
            try:
                chunk = bits_chunk(cg)
            except ValueError:
                continue
            if convs[src][1].attrs.channels % chunk:
                continue
            f.source, f.producer = "bits", src
    for name, f in flows.items():
        var, conv = convs[name]
        outputs = []
        for consumer, role in uses.get(var.id_, []):
            spec = "f32"
            cf = flows.get(consumer)
            if cf is not None and role == "input" and cf.producer == name:
                spec = ("bits", cf.pad, convs[consumer][1].attrs.channels_per_group)
            if spec not in outputs:
                outputs.append(spec)
        chunks = {bits_chunk(s[2]) for s in outputs if isinstance(s, tuple)}
        if len(chunks) > 1:  # one word chunk per kernel: the others read float32 and pack
            keep = min(chunks)
            for consumer, role in uses.get(var.id_, []):
                cf = flows.get(consumer)
                if cf is not None and cf.producer == name and bits_chunk(convs[consumer][1].attrs.channels_per_group) != keep:
                    cf.source, cf.producer = "f32", None
            outputs = [s for s in outputs if not isinstance(s, tuple) or bits_chunk(s[2]) == keep]
            readers = [flows[c] for c, _ in uses.get(var.id_, []) if c in flows]
            if any(cf.source == "f32" for cf in readers) and "f32" not in outputs:
                outputs.append("f32")
        f.outputs = outputs or ["f32"]
        a = conv.attrs
        f.tile_o, f.tile_p = _tile(f.isa, a.channels // a.groups, {bits_chunk(s[2]) for s in f.outputs if isinstance(s, tuple)},
                                   knobs.get(name) or {})
    for name, f in flows.items():
        if f.source == "bits":
            spec = ("bits", f.pad, convs[name][1].attrs.channels_per_group)
            f.input_index = flows[f.producer].outputs.index(spec)
    return flows
