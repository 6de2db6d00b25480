"""Argument helpers shared by the commands."""
from __future__ import annotations

import argparse

import numpy as np

from ..errors import SepnetError


def act_bits_arg(text: str):
    """``--act-bits``: 1..8 or 'float'."""
    if text == "float":
        return "float"
    try:
        bits = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--act-bits takes 1..8 or 'float', got {text!r}") from None
    if not 1 <= bits <= 8:
        raise argparse.ArgumentTypeError(f"--act-bits takes 1..8 or 'float', got {bits}")
    return bits


def zoo_options(args) -> dict:
    return {"seed": args.seed, "weights": args.weights, "image_size": args.image_size,
            "num_classes": args.num_classes}


def add_zoo_args(p):
    p.add_argument("--seed", type=int, default=0, help="seed of the zoo model's deterministic weights")
    p.add_argument("--weights", help="zoo model weights (.npz keyed by parameter name)")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--num-classes", type=int, default=1000)


def read_inputs(input_specs: list[dict], specs: list[str]) -> dict:
    names = [s["name"] for s in input_specs]
    inputs = {}
    for spec in specs:
        name, _, path = spec.rpartition("=")
        if not name:
            if len(names) != 1:
                raise SepnetError(f"the model has inputs {names}: pass --input NAME=FILE.npy for each")
            name = names[0]
        try:
            value = np.load(path)
        except MemoryError:
            raise SepnetError(f"cannot read input file {path!r}: its header claims an array too large for memory") from None
        except Exception as err:  # noqa: BLE001 - a damaged .npy header reaches numpy's parser (TokenError, ...)
            raise SepnetError(f"cannot read input file {path!r} as .npy ({type(err).__name__}: {err})") from None
        if not isinstance(value, np.ndarray):
            raise SepnetError(f"input file {path!r} is not one array (.npy); save the input with numpy.save")
        inputs[name] = value
    return inputs
