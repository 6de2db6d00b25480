"""The integer dataflow of a quantized graph: which conv layers run as ``dot_conv2d`` and, for each, what
it reads and which formats it writes for its consumers (docs/layouts.md, "Integer dataflow").

A layer is a *dot layer* when its kernel can be ``dot_conv2d`` (int8 weights, or binary weights run
as int8 ``impl="int8"``, with quantized activations; stride 1, no dilation, a square kernel with
"same" padding; input channels per group and output channels per group multiples of 4), and, when it
has a fused residual, that residual comes from a dot layer (it is read in the producer's padded rows).
Then:

- its input is read as **words** written by the producing dot layer with this layer's own quantizer
  when the producer is a dot layer on the same pixel grid, else as float32 NCHW, quantized by the
  kernel's first stage (one tensor, no separate quantize kernel);
- a producer writes one ``words`` output per distinct quantizer among its dot consumers, ``f32p``
  (padded float32) when a dot consumer takes it as its residual, and ``f32`` (NCHW) when anything
  else uses it (a float op, a non-dot layer, a graph output, a probe);
- dot layers connected by words or residual edges share one padded domain whose halo is the largest
  padding among them;
- a max pool between a dot layer and dot layers that all read it with one unsigned quantizer runs on
  those codes (``word_max_pool2d``: max pooling commutes with the quantizer, so this is bit-exact);
- a residual quantized to 8 bits (``attrs.residual_quant``) is read as the words its producer writes
  for that quantizer; a dot layer whose only use is another dot layer's float residual (the pattern
  residual block's k×k conv) is computed inside that layer's kernel (``sibling``): no tensor between them.

Every output is the producer's float32 epilogue value (quantized with the consumer's quantizer for a
words output), so numerics are those of the float dataflow: bit-exact with the reference executor.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tvm import relax

from schedules.common import act_range
from schedules.dot_conv2d.kernel import DOT_ISAS, choose_isa
from schedules.dot_conv2d.packing import pair_sums_fit_int16
from schedules.word_layout import WORD_CHANNELS
from tvm_sepnet.ops import parse_conv

from .utils import binding_operands, op_name


@dataclass
class LayerFlow:
    """How one dot layer reads and writes (see the module docstring)."""

    name: str
    isa: str
    n: int
    h: int
    w: int
    pad: int = 0  # halo of its domain
    source: str = "f32"  # "words" (from ``producer``) or "f32" (NCHW, quantized by the kernel)
    producer: str | None = None
    input_index: int | None = None  # output of the producer holding this layer's words
    residual_from: str | None = None
    residual_index: int | None = None
    residual_mode: str | None = None  # "f32p", "words_u8" / "words_s8" (attrs.residual_quant)
    sibling: str | None = None  # a dot layer computed in this layer's kernel: its epilogue is the residual
    fused_into: str | None = None  # this layer is the sibling of that layer (no kernel of its own)
    outputs: list = field(default_factory=list)  # "f32p" | "f32" | ("words", lo, hi, inv_scale)
    dense_index: int | None = None  # the f32 output, if any
    tile_o: int = 8
    tile_p: int = 2


@dataclass
class PoolFlow:
    """A max pool run on the words its producer wrote for the pool's consumers (``word_max_pool2d``)."""

    name: str  # "pool:<binding name>"
    var_id: object
    producer: str | None  # the dot layer whose words it pools; None: a float32 NCHW input, quantized first
    input_index: int | None = None
    spec: tuple = ()  # the consumers' ("words", lo, hi, inv_scale)
    n: int = 1
    c: int = 0
    h: int = 0
    w: int = 0
    ho: int = 0
    wo: int = 0
    pool: tuple = (1, 1)
    strides: tuple = (1, 1)
    padding: tuple = (0, 0, 0, 0)
    pad_in: int = 0
    pad_out: int = 0
    outputs: list = field(default_factory=lambda: ["words"])


@dataclass
class DataflowPlan:
    layers: dict = field(default_factory=dict)  # layer name -> LayerFlow
    pools: dict = field(default_factory=dict)  # "pool:<binding>" -> PoolFlow
    sign: dict = field(default_factory=dict)  # sign layer name -> plan_sign_dataflow.SignFlow


def _eligible(conv, x_shape) -> bool:
    a = conv.attrs
    if a.act.get("kind") == "float":
        return False
    if not (a.weight_format == "int8" or (a.weight_format == "binary" and a.impl == "int8")):
        return False
    kh, kw = a.kernel
    p = set(a.padding)
    if kh != kw or len(p) != 1 or tuple(a.strides) != (1, 1) or tuple(a.dilation) != (1, 1):
        return False
    pad = p.pop()
    if kh != 2 * pad + 1:
        return False
    if a.channels_per_group % WORD_CHANNELS or (a.channels // a.groups) % WORD_CHANNELS:
        return False
    return len(x_shape) == 4


def _weights_int8(conv):
    """The layer's weights as the int8 values the dot kernel multiplies (±1 for binary layers)."""
    import numpy as np

    from schedules.bitserial_conv2d.packing import unpack_weights

    if conv.attrs.weight_format == "binary":
        return unpack_weights(conv.w, conv.attrs.channels_per_group).astype(np.int8)
    return conv.w


def _tiles(isa: str, og: int, knobs: dict) -> tuple[int, int]:
    lanes_regs = DOT_ISAS[isa].registers
    tile_o = int(knobs.get("dot_tile_o", 8 if og % 8 == 0 else 4))
    tile_p = int(knobs.get("dot_tile_p", 2 if tile_o >= 8 else 4))
    while tile_o * tile_p + tile_p + 1 > lanes_regs and tile_p > 1:
        tile_p -= 1
    return tile_o, tile_p


def plan_integer_dataflow(func: relax.Function, preset, knobs=None) -> DataflowPlan:
    """The :class:`DataflowPlan` of a quantized ``main`` (sepnet dialect, before lowering)."""
    knobs = knobs or {}
    arch = preset.machine or "x86_64"
    convs, var_layer, uses, pool_calls = {}, {}, {}, {}
    for block in func.body.blocks:
        for b in block.bindings:
            conv = parse_conv(b.value)
            if conv is not None:
                convs[conv.attrs.name] = (b.var, conv)
                var_layer[b.var.id_] = conv.attrs.name
            if op_name(b.value) == "relax.nn.max_pool2d":
                pool_calls[b.var.id_] = (b.var, b.value)
            for i, arg in enumerate(binding_operands(b.value)):
                if not isinstance(arg, relax.Var):
                    continue
                role, user = "other", conv.attrs.name if conv is not None else None
                if conv is not None and op_name(b.value) == "relax.call_pure_packed":
                    role = "input" if i == 1 else ("residual" if i == 6 else "other")
                elif b.var.id_ in pool_calls:
                    role, user = "pool", f"pool:{b.var.name}"
                uses.setdefault(arg.id_, []).append((user, role))
    for var in relax.analysis.free_vars(func.body.body):
        uses.setdefault(var.id_, []).append((None, "other"))

    flows = {}
    for name, (var, conv) in convs.items():
        x_shape = [int(v) for v in conv.x.ty.shape]
        if not _eligible(conv, x_shape):
            continue
        exact = pair_sums_fit_int16(_weights_int8(conv))
        isa = choose_isa(preset.features, arch, exact)
        flows[name] = LayerFlow(name, isa, x_shape[0], x_shape[2], x_shape[3])
    # a fused residual must come from a dot layer on the same grid (fixpoint: dropping one can drop others)
    changed = True
    while changed:
        changed = False
        for name in list(flows):
            conv = convs[name][1]
            if conv.attrs.residual:
                src = var_layer.get(getattr(conv.residual, "id_", None))
                if src not in flows or _grid(flows[src]) != _grid(flows[name]):
                    del flows[name]
                    changed = True
    pools = _word_pools(pool_calls, flows, var_layer, uses, convs)
    pool_of = {p.var_id: p for p in pools.values()}
    # inputs and residual sources
    for name, f in flows.items():
        conv = convs[name][1]
        src = var_layer.get(getattr(conv.x, "id_", None))
        if src in flows and _grid(flows[src]) == _grid(f):
            f.source, f.producer = "words", src
        elif getattr(conv.x, "id_", None) in pool_of:
            f.source, f.producer, f.input_index = "words", pool_of[conv.x.id_].name, 0
        if conv.attrs.residual:
            f.residual_from = var_layer[conv.residual.id_]
            rq = conv.attrs.residual_quant
            f.residual_mode = "f32p" if not rq else ("words_u8" if act_range(rq["kind"], rq["bits"])[0] >= 0 else "words_s8")
    # a k×k branch used only as a float residual is computed in its consumer's kernel
    for name, f in flows.items():
        p = flows.get(f.residual_from) if f.residual_mode == "f32p" else None
        p_var, p_conv = convs[f.residual_from] if p is not None else (None, None)
        if (p is not None and p.source == "words" and not p_conv.attrs.residual and p.fused_into is None
                and [r for _, r in uses.get(p_var.id_, [])] == ["residual"] and DOT_ISAS[p.isa].lanes == DOT_ISAS[f.isa].lanes):
            p.fused_into, f.sibling = name, p.name
    # the producers' outputs: one per format a consumer reads
    for name, f in flows.items():
        var, conv = convs[name]
        outputs = []
        if f.fused_into is None:
            for consumer, role in uses.get(var.id_, []):
                spec = "f32"
                if role == "pool" and consumer in pools:
                    spec = pools[consumer].spec
                elif consumer in flows and role == "input" and flows[consumer].source == "words":
                    spec = _words_spec(convs[consumer][1].attrs.act)
                elif consumer in flows and role == "residual" and flows[consumer].sibling != name:
                    rq = convs[consumer][1].attrs.residual_quant
                    spec = _words_spec(rq) if rq else "f32p"
                elif consumer in flows and role == "residual":
                    continue  # computed in the consumer's kernel
                if spec not in outputs:
                    outputs.append(spec)
            outputs = outputs or ["f32"]
        f.outputs = outputs
        f.dense_index = f.outputs.index("f32") if "f32" in f.outputs else None
        og = conv.attrs.channels // conv.attrs.groups
        f.tile_o, f.tile_p = _tiles(f.isa, og, knobs.get(name) or {})
    for p in pools.values():
        if p.producer is not None:
            p.input_index = flows[p.producer].outputs.index(p.spec)
    for name, f in flows.items():
        conv = convs[name][1]
        if f.source == "words" and f.producer in flows:
            f.input_index = flows[f.producer].outputs.index(_words_spec(conv.attrs.act))
        if f.residual_from is not None and f.sibling is None:
            rq = conv.attrs.residual_quant
            f.residual_index = flows[f.residual_from].outputs.index(_words_spec(rq) if rq else "f32p")
        if f.sibling is not None:  # one tile for both convs
            f.tile_o = flows[f.sibling].tile_o = min(f.tile_o, flows[f.sibling].tile_o)
            f.tile_p = flows[f.sibling].tile_p = min(f.tile_p, flows[f.sibling].tile_p)
    _assign_domains(flows, convs, pools)
    for p in pools.values():
        p.pad_in = flows[p.producer].pad if p.producer is not None else max(p.padding)
        p.pad_out = max(flows[c].pad for c, role in uses.get(p.var_id, []) if role == "input")
    return DataflowPlan(flows, pools)


def _word_pools(pool_calls: dict, flows: dict, var_layer: dict, uses: dict, convs: dict) -> dict:
    """The max pools that run on words: read only as the input of dot layers that share one unsigned
    quantizer; NCHW, no dilation. Fed by a dot layer: its words (no padding); fed by anything else: the
    float32 tensor, quantized by the pool kernel's first stage."""
    pools = {}
    for var_id, (var, call) in pool_calls.items():
        producer = var_layer.get(getattr(call.args[0], "id_", None))
        producer = producer if producer in flows else None
        readers = uses.get(var_id, [])
        a = call.attrs
        if not readers or any(role != "input" or c not in flows for c, role in readers):
            continue
        acts = {convs[c][1].attrs.act["kind"] + str(convs[c][1].attrs.act["bits"]) + str(convs[c][1].attrs.act["inv_scale"])
                for c, _ in readers}
        act = convs[readers[0][0]][1].attrs.act
        if len(acts) != 1 or act["kind"] != "uint" or str(a.layout) != "NCHW" or any(int(v) != 1 for v in a.dilation):
            continue
        if producer is not None and any(int(v) for v in a.padding):
            continue
        if bool(getattr(a, "ceil_mode", False)) or len(a.padding) != 4 or a.padding[0] != a.padding[2] \
                or a.padding[1] != a.padding[3]:
            continue
        n, c, h, w = (int(v) for v in call.args[0].ty.shape)
        _, _, ho, wo = (int(v) for v in var.ty.shape)
        if c % WORD_CHANNELS or any(_grid(flows[r]) != (n, ho, wo) for r, _ in readers):
            continue
        name = f"pool:{var.name}"
        pools[name] = PoolFlow(name, var_id, producer, spec=_words_spec(act), n=n, c=c, h=h, w=w, ho=ho, wo=wo,
                               pool=tuple(int(v) for v in a.pool_size), strides=tuple(int(v) for v in a.strides),
                               padding=tuple(int(v) for v in a.padding))
    return pools


def _words_spec(act: dict) -> tuple:
    lo, hi, _ = act_range(act["kind"], act["bits"])
    return ("words", lo, hi, float(act["inv_scale"]))


def _grid(f: LayerFlow) -> tuple:
    return (f.n, f.h, f.w)


def _assign_domains(flows: dict, convs: dict, pools: dict) -> None:
    """Dot layers linked by words or residual edges share a domain: halo = the largest padding. The
    readers of one word pool share the pool's output domain (the pool itself re-grids its words)."""
    parent = {n: n for n in flows}

    def root(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for name, f in flows.items():
        for other in (f.producer, f.residual_from, f.sibling):
            if other is not None and other in flows:
                parent[root(name)] = root(other)
    for p in pools.values():
        readers = [name for name, f in flows.items() if f.producer == p.name]
        for other in readers[1:]:
            parent[root(other)] = root(readers[0])
    halo = {}
    for name in flows:
        r = root(name)
        halo[r] = max(halo.get(r, 0), int(convs[name][1].attrs.padding[0]))
    for name, f in flows.items():
        f.pad = halo[root(name)]
