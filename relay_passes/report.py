"""What the passes found, handed back in one object instead of attributes read off a pass.

:func:`relay_passes.pipeline.run_pipeline` creates a :class:`PipelineReport` and gives its parts to the
passes that fill them (``LowerToKernels(..., report=report.kernels)``,
``OffloadToAccelerator(..., report=report.offload)``); a pass called without a report records nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class KernelReport:
    """What ``LowerToKernels`` found.

    - ``choices``: layer name -> the kernel that runs it (``binary/uint4``, ``int8(±1)/uint2``, ...);
    - ``tasks``: tunable kernels, key -> ``{kind, unscheduled, hand, layers, calls, source}``
      (``source``: ``hand`` or ``tuned``: which schedule the build uses);
    - ``knob_tasks``: pointwise int8 convs tuned by knob search, key -> ``{kind, build, layers, calls,
      geometry, knobs, tuned}`` (``build(point)`` gives the kernels of a knob setting);
    - ``layer_kernels``: layer name -> kernel function names, in call order (profiling charges each
      kernel call to its layer);
    - ``traffic``: layer name -> ``{"read", "written"}``: bytes of activation tensors its kernels read
      and write (constants excluded);
    - ``dataflow``: the integer-dataflow plan (``relay_passes.plan_dataflow.DataflowPlan``).
    """

    choices: dict = field(default_factory=dict)
    tasks: dict = field(default_factory=dict)
    knob_tasks: dict = field(default_factory=dict)
    layer_kernels: dict = field(default_factory=dict)
    traffic: dict = field(default_factory=dict)
    dataflow: object = None


@dataclass
class OffloadReport:
    """What ``OffloadToAccelerator`` found: ``programs`` (layer name -> ``LayerProgram``) and ``layers``
    (layer name -> the arguments it was compiled from; the tiling tuner recompiles with other knobs)."""

    programs: dict = field(default_factory=dict)
    layers: dict = field(default_factory=dict)


@dataclass
class PipelineReport:
    """Everything a run of the pipeline found, phase by phase.

    - ``phases``: the phases that ran, in order;
    - ``ranges``: calibrated input range per layer (activation quantization);
    - ``graph`` / ``consts``: the quantized graph before lowering, exported for the reference executor
      (``tvm_sepnet.graph_export``): what every build is checked against;
    - ``probes``: ``[{"node", "layer"}]`` of the layers whose outputs ``main`` also returns;
    - ``model_id`` / ``spec``: the accelerator program namespace and description (offload);
    - ``offload``: :class:`OffloadReport`; ``kernels``: :class:`KernelReport`;
    - ``layer_settings``: {layer: settings} of the config's per-layer rules (``tvm_sepnet.layer_precision``).
    """

    phases: list = field(default_factory=list)
    ranges: dict = field(default_factory=dict)
    graph: dict | None = None
    consts: dict = field(default_factory=dict)
    probes: list = field(default_factory=list)
    model_id: str | None = None
    spec: object = None
    offload: OffloadReport = field(default_factory=OffloadReport)
    kernels: KernelReport = field(default_factory=KernelReport)
    layer_settings: dict = field(default_factory=dict)
