"""Accelerator descriptions (presets fit their devices; bad ones fail with a message naming what is
wrong) and the instruction encoding (every instruction round-trips; a field that does not fit fails)."""
import json
import os

import numpy as np
import pytest

from tvm_sepnet.fpga import isa
from tvm_sepnet.targets import get_target, known_targets
from tvm_sepnet.targets.accelerator import PRESET_DIR, AcceleratorConfigError, known_presets, load_spec, spec_from_dict


def _desc(**changes):
    with open(os.path.join(PRESET_DIR, "pynq-z2.json"), encoding="utf-8") as f:
        d = json.load(f)
    for k, v in changes.items():
        if isinstance(v, dict):
            d[k] = {**d[k], **v}
        else:
            d[k] = v
    return d


@pytest.mark.parametrize("name", ["pynq-z2", "ultra96", "zcu104"])
def test_presets_fit_their_devices(name):
    spec = load_spec(name)
    for key, (used, budget) in spec.resources().items():
        assert 0 < used <= budget, key
    assert spec.free_on_chip_bytes() > 0 and f"fpga-sim:{name}" in known_targets()
    preset = get_target(f"fpga-sim:{name}")
    assert preset.accelerator == name and preset.family == "x86"
    assert set(known_presets()) >= {"pynq-z2", "ultra96", "zcu104"}


@pytest.mark.parametrize("changes,message", [
    ({"buffers": {"acc": 0}}, r"buffer 'acc' has 0 bytes"),
    ({"buffers": {"wgt": 100}}, r"buffer 'wgt' has 100 bytes, less than one row \(256 bytes\)"),
    ({"gemm": {"block_in": 32, "block_out": 32}}, r"needs 532 DSP blocks but xc7z020 .* has 220"),  # 512 + 8 * 2 + 4
    ({"binary": {"bin_in": 4096}}, r"LUTs but .* has 53,200"),
    ({"binary": {"bin_in": 96}}, r"bin_in must be a multiple of 64"),
    ({"buffers": {"acc": 1 << 20}}, r"on-chip memory bytes"),
    # 16,384 inp rows in 4 banks of 4,096 x 128 bits: 30 RAMB18 each (2Kx9 tiles), 52 BRAM36 more than 64 x 128 bits
    ({"buffers": {"inp": 262144}}, r"needs 141.5 BRAM36 \(buffer memories\) but xc7z020 .* has 140"),
    ({"alu_lanes": 3}, r"alu_lanes \(3\) must divide block_out"),
    ({"clock_mhz": 0}, r"clock_mhz must be positive"),
])
def test_bad_descriptions_are_refused(changes, message):
    with pytest.raises(AcceleratorConfigError, match=message):
        spec_from_dict(_desc(**changes))


def test_missing_field_unknown_preset_and_json_path(tmp_path):
    d = _desc()
    del d["dsps"]
    with pytest.raises(AcceleratorConfigError, match="lacks field 'dsps'"):
        spec_from_dict(d)
    with pytest.raises(AcceleratorConfigError, match="unknown accelerator 'vu9p'.*pynq-z2"):
        get_target("fpga-sim:vu9p")
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(_desc(name="mine", clock_mhz=150)))
    preset = get_target(f"fpga-sim:{path}")
    assert load_spec(preset.accelerator).clock_mhz == 150
    path.write_text("{not json")
    with pytest.raises(AcceleratorConfigError, match="not valid JSON"):
        load_spec(str(path))


def _random_insn(op, rng):
    args = {name: int(rng.integers(0, 1 << bits)) for name, bits in isa.FIELDS[op]}
    deps = {d: bool(rng.integers(0, 2)) for d in isa.DEPS}
    return isa.Insn(op, args, **deps)


@pytest.mark.parametrize("op", list(isa.OPCODES))
def test_every_instruction_round_trips(op):
    rng = np.random.default_rng(isa.OPCODES[op])
    insns = [_random_insn(op, rng) for _ in range(50)]
    words = isa.encode_program(insns)
    assert words.shape == (50, isa.WORDS) and words.dtype == np.uint64
    assert isa.decode_program(words) == insns
    # the maximal value of every field survives too
    top = isa.Insn(op, {name: (1 << bits) - 1 for name, bits in isa.FIELDS[op]}, True, True, True, True)
    assert isa.Insn.decode(top.encode()) == top


def test_encoding_errors():
    with pytest.raises(isa.EncodingError, match=r"GEMM.x_ext = 256 does not fit in 8 bits"):
        isa.gemm(False, x_ext=256).encode()
    with pytest.raises(isa.EncodingError, match="unknown fields"):
        isa.Insn("ALU", {"op": 0, "lanes": 3}).encode()
    with pytest.raises(isa.EncodingError, match="unknown opcode 7"):
        isa.Insn.decode(np.array([7, 0, 0], np.uint64))
    with pytest.raises(isa.EncodingError, match="unknown instruction"):
        isa.Insn("NOP")
    assert isa.load("bin_inp", 0, 0, 1, 1, 1, planes=3).queue == "load"
    assert isa.load("acc", 0, 0, 1, 1, 1).queue == "compute" and isa.store(0, 0, 1, 1, 1).queue == "store"
