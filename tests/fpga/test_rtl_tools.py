"""The RTL's tooling: the instruction field offsets the RTL decodes are those of isa.py, descriptions
the RTL cannot build and missing tools fail with messages that say what to do, Yosys statistics become
the resource table."""
import json
import os

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
    assert "synth_xilinx -family xcup" in script and "-uram" in script and "-set BLOCK_OUT 64" in script
    assert "blackbox gemm_lane_pair bin_lane alu_lane" in script
