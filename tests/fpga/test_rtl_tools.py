"""The RTL's tooling: the instruction field offsets the RTL decodes are those of isa.py, descriptions
the RTL cannot build and missing tools fail with messages that say what to do, Yosys statistics become
the resource table."""
import json
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from tvm_sepnet.fpga import cosim, rtl, synthesis
from tvm_sepnet.targets.accelerator import PRESET_DIR, load_spec, spec_from_dict


def test_isa_header_is_generated_from_isa_py():
    with open(os.path.join(rtl.rtl_dir(), rtl.ISA_HEADER), encoding="utf-8") as f:
        assert f.read() == rtl.isa_header(), "rtl/isa_fields.svh is stale: python -m tvm_sepnet.fpga.rtl"


@pytest.mark.parametrize("name", ["pynq-z2", "ultra96", "zcu104"])
def test_presets_have_rtl_parameters(name):
    spec = load_spec(name)
    p = rtl.rtl_parameters(spec)
    assert p["BUS_BYTES"] == spec.bus_bytes >= spec.dram_bytes_per_cycle and p["ACC_ROWS"] == spec.rows("acc")
    assert synthesis.yosys_family(spec) == ("xc7" if name == "pynq-z2" else "xcup")


def test_descriptions_the_rtl_cannot_build():
    with open(os.path.join(PRESET_DIR, "pynq-z2.json"), encoding="utf-8") as f:
        d = json.load(f)
    d["gemm"] = {"block_in": 12, "block_out": 16}
    with pytest.raises(rtl.RtlConfigError, match="block_in to be a power of two, got 12"):
        rtl.rtl_parameters(spec_from_dict(d))


def test_missing_tools_name_the_debian_package(monkeypatch):
    monkeypatch.setattr(cosim.shutil, "which", lambda exe: None)
    with pytest.raises(cosim.CosimError, match="install the Debian package verilator .*install_system_packages.sh"):
        cosim.verilator_version()
    monkeypatch.setattr(synthesis.shutil, "which", lambda exe: None)
    with pytest.raises(synthesis.SynthesisError, match="install the Debian package yosys"):
        synthesis.synthesize(load_spec("pynq-z2"))


def test_yosys_cells_to_resources():
    cells = {"LUT2": 10, "LUT6": 5, "INV": 1, "RAM64M": 3, "SRLC32E": 2, "FDRE": 40, "FDSE": 2, "DSP48E2": 7,
             "RAMB36E2": 4, "RAMB18E2": 3, "URAM288": 2, "CARRY8": 9, "MUXF7": 11}
    r = synthesis.resource_counts(cells)
    assert r == {"luts": 16 + 12 + 2, "ffs": 42, "dsps": 7, "bram36": 5.5, "uram": 2, "lutram_luts": 14, "carry": 9}
    script = synthesis.yosys_script(load_spec("zcu104"), "s.json")
    assert "synth_xilinx -family xcup" in script and "-uram" in script and "-set BLOCK_OUT 32" in script
    assert "-uram" not in synthesis.yosys_script(load_spec("ultra96"), "s.json")  # the ZU3EG has no URAM
    assert "blackbox gemm_lane_pair bin_lane alu_lane" in script


#: Yosys 0.23 on the presets (tvm-sepnet fpga-synth, issue 20; docs/measurements.md): LUT, FF, DSP, BRAM36
YOSYS_PRESETS = {"pynq-z2": (41399, 11373, 148, 89.5), "ultra96": (64744, 27434, 276, 178.5),
                 "zcu104": (138429, 43970, 580, 289.5)}


@pytest.mark.parametrize("name", sorted(YOSYS_PRESETS))
def test_resource_model_matches_the_presets_synthesis(name):
    """The model against the measured synthesis of each preset: LUTs and FFs within 2 %, DSPs and BRAM36
    exact, and all within the part (re-measure with fpga-synth after changing the RTL)."""
    res = load_spec(name).resources()
    luts, ffs, dsps, bram36 = YOSYS_PRESETS[name]
    assert abs(res["luts"][0] - luts) <= 0.02 * luts and abs(res["ffs"][0] - ffs) <= 0.02 * ffs
    assert res["dsps"][0] == dsps and res["bram36"][0] == bram36
    assert luts <= res["luts"][1] and ffs <= res["ffs"][1] and dsps <= res["dsps"][1] and bram36 <= res["bram36"][1]


def _ramb18(cells):
    """RAMB18s of Yosys cell counts (a RAMB36 is two)."""
    return sum(n * (2 if c.startswith("RAMB36") else 1) for c, n in cells.items() if c.startswith(("RAMB18", "RAMB36")))


@pytest.mark.slow
def test_resource_model_against_yosys_on_lanes_and_buffers():
    """Yosys (the reference) on each pynq-z2 lane alone and on two buffers: the model's per-instance DSPs
    exactly, LUTs and FFs within 5 % (FFs within 16 of the small counts), the buffers' block RAM by the
    model's tiling rule exactly (about 50 s)."""
    from tvm_sepnet.targets import accelerator as acc

    spec = load_spec("pynq-z2")
    model = {"gemm_lane_pair": (acc.LUT_PER_PAIR_INPUT["xc7"] * spec.block_in, acc.FF_PER_PAIR_INPUT["xc7"] * spec.block_in,
                                spec.block_in),
             "bin_lane": (acc.LUT_PER_BIN_CHANNEL * spec.bin_in, acc.FF_PER_BIN_LANE, 0),
             "alu_lane": (acc.LUT_PER_ALU_LANE, acc.FF_PER_ALU_LANE, acc.DSP_PER_ALU_LANE)}
    # wgt-like: 4 column pieces of 256 x 512 bits (512x36 tiles: 15 each); acc: 2 true-dual-port banks of 1,024 x 512
    buffers = {"row_buffer": {"ROWS": 256, "ROW_BYTES": 256, "BUS_BYTES": 64},
               "acc_buffer": {"ROWS": 2048, "ROW_BYTES": 64, "BUS_BYTES": 64}}
    with ThreadPoolExecutor(2) as pool:  # one Yosys process per module, two at a time
        cells = dict(zip([*model, *buffers], pool.map(lambda args: synthesis.module_cells(spec, *args),
                                                      [(m,) for m in model] + list(buffers.items()))))
    for lane, (luts, ffs, dsps) in model.items():
        got = synthesis.resource_counts(cells[lane])
        assert got["dsps"] == dsps, lane
        assert abs(got["luts"] - luts) <= 0.05 * luts, (lane, got["luts"], luts)
        assert abs(got["ffs"] - ffs) <= max(16, 0.05 * ffs), (lane, got["ffs"], ffs)
    assert _ramb18(cells["row_buffer"]) == 4 * acc.ramb18(256, 512) == 60
    assert _ramb18(cells["acc_buffer"]) == 2 * acc.ramb18(1024, 512, true_dual_port=True) == 58


def test_unknown_module_needs_parameters():
    with pytest.raises(synthesis.SynthesisError, match="module 'row_buffer' needs its parameters"):
        synthesis.yosys_script(load_spec("pynq-z2"), "s.json", "row_buffer")
