"""``fpga-sim``: a VTA-style accelerator for pattern networks, simulated.

- :mod:`tvm_sepnet.targets.accelerator`: the accelerator description (JSON presets ``pynq-z2``, ``ultra96``, ``zcu104``) and the
  hardware derived from it (binary GEMM unit in LUTs, int8 GEMM core in DSPs, vector ALU, buffers),
  with its resource model and checks;
- :mod:`.isa`: the instructions (LOAD, STORE, GEMM, BGEMM, ALU, FINISH) with dependency tokens between
  the load, compute and store queues, and their 192-bit encoding;
- :mod:`.simulator`: the functional simulator (numpy, bit-exact with the CPU kernels) and the cycle
  model (per-instruction cost, overlap of the three queues, one DRAM port);
- :mod:`.compiler`: one conv layer -> DRAM images + instruction stream, tiled to the buffers;
- :mod:`.runtime`: the host driver (quantize/pack activations into DRAM, run, unpack) and the packed
  functions the Relax graph calls (``relay_passes.OffloadToAccelerator``);
- :mod:`.report`: cycles, utilization, DRAM bytes, resources, on-chip fit.
"""
