"""Knob search (tvm_sepnet.autotune.knob_search) and the pointwise int8 conv's knob space: every point is a
bit-exact kernel, the search measures each point at most once within its budget, the XGBoost search
finds the optimum of a structured space sooner than random search, and records survive a cut line."""
import json

import numpy as np
import pytest

from schedules.int8_conv2d import cpu as int8_cpu
from schedules.int8_conv2d import reference
from schedules.int8_conv2d.compute import conv_geometry
from schedules.int8_conv2d.kernel import fuses_quantize, int8_conv2d_prim_func, int8_conv2d_weight_plan
from schedules.int8_conv2d.packing import prepare_weights
from schedules.int8_conv2d.space import pointwise_features
from schedules.quantize.reference import quantize as quantize_ref
from tests.schedules.conftest import run_prim_func
from tests.schedules.test_int8_conv2d import random_case
from tvm_sepnet.autotune import knob_search
from tvm_sepnet.tuning import knobs as knob_records
from tvm_sepnet.tuning.records import tuned_point

CONV = dict(strides=(1, 1), padding=0, dilation=(1, 1))


def _space(x_shape, w_shape, groups):
    return conv_geometry(x_shape, w_shape, groups=groups, **CONV)


@pytest.mark.parametrize("x_shape,w_shape,groups,default_words", [
    ((1, 64, 7, 9), (96, 16, 1, 1), 4, False),  # Cg 16: direct by default, channel words searched
    ((1, 96, 6, 6), (40, 48, 1, 1), 2, True),  # Cg 48: channel words by default, direct searched
])
def test_every_pointwise_knob_point_is_bit_exact(target, x_shape, w_shape, groups, default_words):
    """Each point of the space (direct, or channel words with its own weight layout and tile) gives
    exactly quantize + the reference conv, with the residual and ReLU fused."""
    geo = _space(x_shape, w_shape, groups)
    points = int8_cpu.pointwise_knob_space(geo)
    assert len(points) > 10
    assert ({"algorithm": "direct"} in points) == default_words  # the default itself is not a point
    rng = np.random.default_rng(3)
    _, wq, scale, offset = random_case(rng, x_shape, "uint8", w_shape)
    x = (rng.standard_normal(x_shape) * 40).astype(np.float32)
    inv = np.float32(1.3)
    xq = quantize_ref(x, inv, 0, 255, "uint8")
    residual = rng.standard_normal((1, w_shape[0], x_shape[2], x_shape[3])).astype(np.float32)
    expected = reference.int8_conv2d(xq, wq, scale, offset, relu=True, residual=residual, groups=groups, **CONV)
    picked = [{}] + points[:: max(1, len(points) // 8)]  # the default and a spread of the space
    tiles = set()
    for point in picked:
        plan = int8_conv2d_weight_plan(x_shape, w_shape, groups=groups, knobs=point, **CONV)
        fused = fuses_quantize(plan)
        tiles.add(None if plan is None else (plan["tile_o"], plan["tile_p"]))
        func = int8_conv2d_prim_func(x_shape, "uint8", w_shape, groups=groups, relu=True, residual=True,
                                     prepacked=True, knobs=point, quantize=(0, 255) if fused else None, **CONV)
        args = [x if fused else xq, prepare_weights(wq, plan), scale, offset]
        args += [np.array([inv], np.float32)] if fused else []
        got = run_prim_func(func, target, args + [residual], expected.shape)
        np.testing.assert_array_equal(got, expected, err_msg=f"knob point {point}")
    assert len(tiles) >= 4 and None in tiles


def test_register_tiles_fit_the_isa():
    from schedules.int8_conv2d.channel_words import WORD_ISAS

    geo = _space((1, 640, 7, 7), (1000, 640, 1, 1), 1)
    for family_knobs, isa in (({}, WORD_ISAS["pairs"]), ({"word_layout": "quads"}, WORD_ISAS["quads"])):
        points = int8_cpu.pointwise_knob_space(geo, family_knobs)
        plans = [int8_conv2d_weight_plan((1, 640, 7, 7), (1000, 640, 1, 1), knobs={**family_knobs, **p}, **CONV)
                 for p in points if p["algorithm"] == "words"]
        assert plans and all(p["tile_o"] * p["tile_p"] + p["tile_p"] + 1 <= isa.registers for p in plans)
        assert 1000 % max(p["tile_o"] for p in plans) == 0
        idents = [(p["tile_o"], p["tile_p"], p["unroll"]) for p in plans]
        assert len(set(idents)) == len(idents)  # no two points build the same kernel
    assert int8_cpu.pointwise_knob_space(_space((1, 16, 8, 8), (16, 16, 3, 3), 1)) == []  # 3x3: no words
    feats = pointwise_features(geo, {}, points[0])
    assert len(feats) == len(pointwise_features(geo, {}, {"algorithm": "direct"})) == 9


def _bowl(point):
    """A cost with a narrow optimum at (12, 3), smooth around it."""
    return 1.0 + 0.02 * (point["a"] - 12) ** 2 + 0.3 * (point["b"] - 3) ** 2


GRID = [{"a": a, "b": b} for a in range(32) for b in range(8)]


def _features(point):
    return [point["a"], point["b"]]


def _trials_to_optimum(search: str, seed: int) -> int:
    measured = {}
    order = []

    def measure(batch):
        order.extend(batch)
        return [_bowl(p) for p in batch]

    knob_search.search(GRID, measure, _features, measured, 96, search=search, trials_per_iter=8, seed=seed)
    assert len(order) == len({knob_records.knob_id(p) for p in order}) == len(measured) == 96  # each point once
    return next((i + 1 for i, p in enumerate(order) if _bowl(p) == 1.0), len(order) + 1)


def test_xgb_search_finds_a_structured_optimum_sooner_than_random():
    """Trials until the single optimum of 256 points is measured (97: not within the 96-trial budget)."""
    xgb = sorted(_trials_to_optimum("xgb", s) for s in range(5))
    rnd = sorted(_trials_to_optimum("random", s) for s in range(5))
    assert xgb[2] * 2 <= rnd[2], (xgb, rnd)  # medians over seeds


def test_search_budget_failures_and_resume():
    calls = []

    def measure(batch):
        calls.append(len(batch))
        return [None if p["a"] == 3 else _bowl(p) for p in batch]

    measured = {knob_records.knob_id({"a": 12, "b": 3}): 1.0}  # measured by an earlier run
    curve = knob_search.search(GRID[:64], measure, _features, measured, 20, trials_per_iter=8, seed=1)
    assert len(curve) == 20 == sum(calls) and len(measured) == 21
    assert all(c <= 8 for c in calls)
    assert curve[-1] == 1.0  # the earlier record stays the best
    failed = [k for k, v in measured.items() if v == knob_records.FAILED_COST]
    assert all(json.loads(k)["a"] == 3 for k in failed)
    # a space smaller than the budget: every point once, then the search stops
    small = [{"a": a, "b": 0} for a in range(5)]
    got = {}
    assert len(knob_search.search(small, lambda b: [_bowl(p) for p in b], _features, got, 50)) == 5
    with pytest.raises(ValueError, match="search must be"):
        knob_search.search(small, measure, _features, {}, 1, search="grid")


def test_tuned_point_needs_a_real_gain_over_the_default():
    default = knob_records.knob_id({})
    assert tuned_point({}) == (None, "no_record")
    assert tuned_point({default: 1.0, '{"a": 1}': 0.995}) == (None, "hand_faster")  # within MIN_GAIN
    assert tuned_point({default: 1.0, '{"a": 1}': 0.9, '{"a": 2}': knob_records.FAILED_COST}) == ({"a": 1}, "tuned")
    assert tuned_point({'{"a": 1}': 0.9}) == (None, "no_record")  # no default measured: never trusted


def test_records_skip_a_cut_last_line(tmp_path):
    path = str(tmp_path / "r.jsonl")
    knob_records.append_record(path, {"task": "t", "knobs": {"tile": 4}, "secs": 1.0})
    knob_records.append_record(path, {"task": "u", "knobs": {"tile": 8}, "secs": 2.0})
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"task": "v", "se')
    skipped = []
    assert [r["task"] for r in knob_records.read_records(path, skipped)] == ["t", "u"]
    assert skipped == []  # an unterminated last line may still be being appended: not damage
