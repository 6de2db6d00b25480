"""Per-layer precision rules: ``--layer PATTERN=VALUE[,VALUE...]`` and ``--config FILE`` (JSON or TOML).

A rule is ``(pattern, settings)``: ``pattern`` a glob over the conv layers' names (``fnmatch``, case
sensitive: ``sep*_kxk``, ``conv1``), ``settings`` what the matched layers get:

* ``weights``: ``float`` (kept float, weights and activations: what ``skip`` did), ``int8`` (int8
  weights, per output channel, 8-bit activations: any kernel size) or ``binary`` (±1 weights with a
  per-filter alpha: k×k layers, the first one and depthwise ones included);
* ``act_bits``: ``aN`` (N in 1..8), the activation bits of a binary layer's input (the model's
  ``act_bits`` elsewhere);
* ``kernel``: ``bitserial`` or ``dot`` (the int8 dot-product kernel on ±1 weights), the kernel of a
  binary layer with quantized activations (``ChooseKxkKernels``' choice elsewhere).

Values of one rule are comma separated (``sep*_kxk=binary,a2,bitserial``). Rules apply in order; a
later rule overrides an earlier one's setting of the same kind on the layers both match. A pattern
that matches no layer is an error listing the closest layer names (``difflib``): a typo never passes
silently.
"""
from __future__ import annotations

import difflib
import fnmatch
import json
import os

from .errors import SepnetError

WEIGHTS = ("float", "int8", "binary")
KERNELS = {"bitserial": "bitserial", "dot": "int8"}  # rule value -> ConvAttrs.impl
CONFIG_KEYS = ("layers", "kxk", "pointwise", "depthwise", "dense", "act_bits", "kernel_choice")


def parse_value(value: str, where: str = "") -> dict:
    """The settings of one rule's value: ``float``, ``int8``, ``binary``, ``aN``, ``bitserial``, ``dot``,
    comma separated (at most one of each kind)."""
    settings: dict = {}
    for part in (p.strip() for p in str(value).split(",")):
        if part in WEIGHTS:
            key, val = "weights", part
        elif part in KERNELS:
            key, val = "kernel", KERNELS[part]
        elif len(part) == 2 and part[0] == "a" and part[1].isdigit() and 1 <= int(part[1]) <= 8:
            key, val = "act_bits", int(part[1])
        else:
            raise SepnetError(f"{where}unknown layer setting {part!r}: use float, int8, binary (weights), a1..a8 "
                              "(activation bits of a binary layer), bitserial or dot (its kernel), comma separated")
        if key in settings:
            raise SepnetError(f"{where}{value!r} sets the {key.replace('_', ' ')} twice")
        settings[key] = val
    if settings.get("weights") in ("float", "int8") and ("act_bits" in settings or "kernel" in settings):
        raise SepnetError(f"{where}{value!r}: activation bits and the kernel are settings of binary layers, "
                          f"not of {settings['weights']} ones")
    return settings


def parse_rule(text: str) -> tuple[str, dict]:
    """``PATTERN=VALUE`` (a ``--layer`` argument) -> (pattern, settings)."""
    pattern, sep, value = str(text).rpartition("=")
    if not sep or not pattern.strip() or not value.strip():
        raise SepnetError(f"--layer {text!r}: expected PATTERN=VALUE, e.g. --layer conv1=float or "
                          "--layer 'sep*_kxk=a2'")
    return pattern.strip(), parse_value(value, f"--layer {text!r}: ")


def normalize_rules(rules) -> tuple:
    """Rules as a tuple of (pattern, settings) from a {pattern: value} mapping, a list of
    ``PATTERN=VALUE`` strings or of (pattern, value-or-settings) pairs."""
    if not rules:
        return ()
    items = rules.items() if isinstance(rules, dict) else rules
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(parse_rule(item))
            continue
        pattern, value = item
        settings = dict(value) if isinstance(value, dict) else parse_value(value, f"layer rule {pattern!r}: ")
        out.append((str(pattern), settings))
    return tuple(out)


def resolve(rules, names: list[str]) -> dict[str, dict]:
    """{layer name: settings} for the layers ``names`` (program order) under ``rules`` (later rules
    override earlier ones, setting by setting); a pattern matching no layer raises a ``SepnetError``
    naming the closest layer names."""
    resolved: dict[str, dict] = {}
    for pattern, settings in normalize_rules(rules):
        matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            close = difflib.get_close_matches(pattern, names, n=5, cutoff=0.5)
            hint = f"close names: {', '.join(close)}" if close else f"the layers are: {', '.join(names[:12])}" + (
                ", ..." if len(names) > 12 else "")
            raise SepnetError(f"layer rule {pattern!r} matches no conv layer of the model; {hint} "
                              "(tvm-sepnet inspect ARTIFACT lists them all)")
        for name in matched:
            resolved.setdefault(name, {}).update(settings)
    return {n: resolved[n] for n in names if n in resolved}


def describe(rules) -> list[str]:
    """The rules as ``PATTERN=VALUE`` strings (for ``meta.json`` and ``inspect``)."""
    inverse = {v: k for k, v in KERNELS.items()}
    out = []
    for pattern, s in normalize_rules(rules):
        parts = [s["weights"]] if "weights" in s else []
        parts += [f"a{s['act_bits']}"] if "act_bits" in s else []
        parts += [inverse[s["kernel"]]] if "kernel" in s else []
        out.append(f"{pattern}={','.join(parts)}")
    return out


def read_config(path: str) -> dict:
    """A compile config file (``.json``, or ``.toml`` on Python >= 3.11): ``layers`` ({pattern: value},
    the ``--layer`` rules) and optionally kxk, pointwise, depthwise, dense, act_bits, kernel_choice."""
    if not os.path.isfile(path):
        raise SepnetError(f"--config {path!r}: no such file")
    try:
        if path.endswith(".toml"):
            try:
                import tomllib
            except ImportError:
                raise SepnetError(f"--config {path!r}: TOML needs Python 3.11 or newer; write the config as JSON") from None
            with open(path, "rb") as f:
                data = tomllib.load(f)
        else:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise SepnetError(f"--config {path!r} is not valid {'TOML' if path.endswith('.toml') else 'JSON'}: {err}") from None
    if not isinstance(data, dict):
        raise SepnetError(f"--config {path!r}: expected an object with keys {', '.join(CONFIG_KEYS)}")
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        raise SepnetError(f"--config {path!r}: unknown key(s) {', '.join(unknown)}; known: {', '.join(CONFIG_KEYS)}")
    layers = data.get("layers", {})
    if not isinstance(layers, dict) or not all(isinstance(v, str) for v in layers.values()):
        raise SepnetError(f"--config {path!r}: 'layers' must map layer-name patterns to values such as "
                          '"float", "int8", "a2" or "binary,a2,bitserial"')
    out = dict(data)
    out["layers"] = normalize_rules(layers)
    return out


__all__ = ["CONFIG_KEYS", "describe", "normalize_rules", "parse_rule", "parse_value", "read_config", "resolve"]
