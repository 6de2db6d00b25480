"""Per-layer precision from the command line and a config file (tvm_sepnet.layer_precision): the layer
kinds, activation bits and kernels in ``inspect`` follow the rules, the artifact still matches the
reference executor bit for bit, and a pattern matching no layer is an error naming the close layers."""
import json

import numpy as np
import pytest

from tvm_sepnet.cli import main
from tvm_sepnet.errors import SepnetError
from tvm_sepnet.layer_precision import parse_rule, read_config, resolve

NAMES = ["conv1", "conv2", "sep2_1_reduce", "sep2_1_prb1_kxk", "sep2_1_prb1_pw", "sep2_1_prb2_kxk", "classifier"]


def test_resolve_globs_in_order_and_later_rules_win():
    got = resolve([("sep*_kxk", "a2"), ("sep2_1_prb2_kxk", "a3,bitserial"), ("conv1", "float")], NAMES)
    assert got == {"conv1": {"weights": "float"}, "sep2_1_prb1_kxk": {"act_bits": 2},
                   "sep2_1_prb2_kxk": {"act_bits": 3, "kernel": "bitserial"}}
    assert list(got) == ["conv1", "sep2_1_prb1_kxk", "sep2_1_prb2_kxk"]  # program order
    assert parse_rule("sep*=binary,a1,dot") == ("sep*", {"weights": "binary", "act_bits": 1, "kernel": "int8"})


@pytest.mark.parametrize("rule, message", [
    ("sep2_1_prb1_kxx=a2", "close names: sep2_1_prb1_kxk"),
    ("conv1=a9", "unknown layer setting 'a9'"),
    ("conv1=int8,a2", "binary layers, not of int8"),
    ("conv1", "expected PATTERN=VALUE"),
])
def test_bad_rules_are_errors(rule, message):
    with pytest.raises(SepnetError, match=message):
        resolve([parse_rule(rule)], NAMES)


def test_toml_and_json_configs_agree(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"layers": {"conv1": "float", "sep*_kxk": "a2"}, "act_bits": 3}))
    (tmp_path / "c.toml").write_text('act_bits = 3\n[layers]\nconv1 = "float"\n"sep*_kxk" = "a2"\n')
    assert read_config(str(tmp_path / "c.json")) == read_config(str(tmp_path / "c.toml"))
    (tmp_path / "bad.json").write_text('{"layers": {"conv1": "float"}, "kxkk": "binary"}')
    with pytest.raises(SepnetError, match="unknown key.*kxkk"):
        read_config(str(tmp_path / "bad.json"))


def _cli(capsys, *args, status=0) -> dict:
    """The command line in this process (``--json``): its result, the exit status asserted."""
    capsys.readouterr()
    assert main([*args, "--json"]) == status
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_cli_rules_set_layer_kinds_and_match_reference(tmp_path, capsys):
    config = tmp_path / "precision.json"  # the file's rules first, then --layer's (which win on conv2)
    config.write_text(json.dumps({"layers": {"conv1": "binary", "classifier": "float", "conv2": "float"}}))
    out = str(tmp_path / "art")
    _cli(capsys, "compile", "sepnet-bq", "--image-size", "32", "--num-classes", "10", "-o", out, "--config", str(config),
             "--layer", "sep2_*_kxk=a2", "--layer", "sep3_1_prb1_kxk=a1,bitserial", "--layer", "sep4_1_prb1_kxk=int8",
             "--layer", "conv2=int8")
    inspected = _cli(capsys, "inspect", out)
    rows = {r["name"]: r for r in inspected["layers"] if r["kind"] != "other"}
    assert rows["conv1"]["kind"] == "binary_conv" and rows["conv1"]["role"] == "rule"  # the first layer, binarized
    assert rows["classifier"]["kind"] == "float_conv" and rows["classifier"]["kernel"] == "float"
    assert rows["conv2"]["kind"] == "int8_conv" and rows["conv2"]["role"] == "rule"
    assert rows["sep4_1_prb1_kxk"]["kind"] == "int8_conv"  # a 3×3 pattern layer with int8 weights
    for name in ("sep2_1_prb1_kxk", "sep2_1_prb2_kxk", "sep2_2_prb1_kxk", "sep2_2_prb2_kxk"):
        assert "uint2" in rows[name]["kernel"], rows[name]
    assert rows["sep3_1_prb1_kxk"]["kernel"] == "binary/uint1" and "layer rule" in rows["sep3_1_prb1_kxk"]["kernel_reason"]
    assert "uint4" in rows["sep3_1_prb2_kxk"]["kernel"]  # untouched layers keep the model's 4 bits
    assert inspected["layer_settings"]["conv2"] == {"weights": "int8"}
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(3).standard_normal((1, 3, 32, 32)).astype("float32"))
    ran = _cli(capsys, "run", out, "--input", str(x), "--check")
    assert ran["match"] is True and ran["bit_exact"] is True, ran


def test_cli_unknown_layer_exits_2_with_close_names(tmp_path, capsys):
    err = _cli(capsys, "compile", "sepnet-bq", "--image-size", "32", "--num-classes", "10", "-o",
               str(tmp_path / "x"), "--layer", "clasifier=float", status=2)
    assert "close names: classifier" in err["error"], err
