"""The model check's parts on synthetic data: attributing a run's kernel calls to layers, and judging
tuned choices by their layers' times (the whole check runs in test_tune_end_to_end.py)."""
import pytest

from tvm_sepnet.autotune.model_check import ABS_TOL_MS, REL_TOL, judge
from tvm_sepnet.profiling import VM_BUILTINS, attribute_calls

LAYERS = {"conv1": ["float_conv2d_exact"], "pw": ["quantize", "int8_conv2d"], "kxk": ["quantize_bitpack", "bitserial_conv2d"],
          "restore": ["quantize", "int8_conv2d1"]}


def test_calls_go_to_their_layers_in_program_order():
    run = [("vm.builtin.alloc_storage", 1.0), ("float_conv2d_exact", 2.0), ("max_pool2d", 4.0),
           ("vm.builtin.alloc_tensor", 8.0), ("quantize", 16.0), ("int8_conv2d", 32.0), ("quantize_bitpack", 64.0),
           ("bitserial_conv2d", 128.0), ("quantize", 256.0), ("int8_conv2d1", 512.0), ("reshape", 1024.0)]
    # the shared quantize kernel is charged to the layer that called it each time
    assert attribute_calls(run, LAYERS) == {VM_BUILTINS: 9.0, "conv1": 2.0, "max_pool2d": 4.0, "pw": 48.0,
                                            "kxk": 192.0, "restore": 768.0, "reshape": 1024.0}


def test_calls_out_of_layer_order_are_an_error():
    run = [("float_conv2d_exact", 1.0), ("quantize", 1.0), ("int8_conv2d1", 1.0)]
    with pytest.raises(ValueError, match="kernel 'int8_conv2d' of layer 'pw' was not called in order"):
        attribute_calls(run, LAYERS)


def test_a_choice_is_slower_beyond_the_tolerance_over_all_its_layers():
    choices = {"a": {"task": "A", "choice": "1", "layers": ["l1", "l2"]}, "b": {"task": "B", "choice": "2", "layers": ["l3"]},
               "c": {"task": "C", "choice": "3", "layers": ["l4"]}}
    hand = {"l1": 1.0, "l2": 1.0, "l3": 0.5, "l4": 0.01}
    within = 2.0 * (1 + REL_TOL) + ABS_TOL_MS - 1e-6
    tuned = {"l1": 0.5, "l2": within - 0.5, "l3": 0.6, "l4": 0.01 + ABS_TOL_MS * 2}
    verdicts = judge(choices, hand, tuned)
    assert not verdicts["a"]["slower"] and verdicts["a"]["hand_ms"] == 2.0
    assert verdicts["b"]["slower"] and verdicts["b"]["tuned_ms"] == 0.6
    assert verdicts["c"]["slower"] and verdicts["c"]["choice"] == "3" and verdicts["c"]["layers"] == ["l4"]
    with pytest.raises(ValueError, match=r"C: layers \['l4'\] were not found"):
        judge(choices, hand, {"l1": 1.0, "l2": 1.0, "l3": 0.5})


def test_lowering_for_the_search_skips_a_knob_choice_the_model_check_rejected():
    from tvm_sepnet.autotune.tuner import KnobChoices
    from tvm_sepnet.tuning.knobs import knob_id

    measured = {"k": {knob_id({}): 1.0, knob_id({"algorithm": "direct"}): 0.5}}
    assert KnobChoices(measured).knobs_for("k", {}) == {"algorithm": "direct"}
    slower = {"k": {"choice": knob_id({"algorithm": "direct"}), "slower": True}}
    assert KnobChoices(measured, slower).knobs_for("k", {}) is None
    other = {"k": {"choice": knob_id({"algorithm": "words"}), "slower": True}}  # a verdict on another choice
    assert KnobChoices(measured, other).knobs_for("k", {}) == {"algorithm": "direct"}
