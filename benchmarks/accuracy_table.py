"""The seed's table in miniature (issue 17): test accuracy on scikit-learn's digits of the mini SEP-Net
(tvm_sepnet/train/models.py) for both training procedures and every config, mean ± std over seeds,
with the weight bytes of each config.

    python benchmarks/accuracy_table.py [--seeds 0 1 2] [--out benchmarks/results]

Per seed the float network is trained once (10 epochs); each (procedure, config) then fine-tunes it
for 4 epochs: ``seed`` = the seed's procedure (sign(W)·alpha, B fixed, no STE; 1×1 int8 and activation
quantizers after training), ``qat`` = Brevitas QAT. The ``float`` rows fine-tune the float network for
the same 4 epochs. Accuracy is the trainer's model (torch) on the 360 test images. Writes
accuracy.json, accuracy.md and accuracy.png to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def weight_bytes(config) -> int:
    """Deployed weight bytes (batch norm folded): float 4 B per weight and bias; binary 1 bit per weight
    + 4 B alpha and 4 B bias per output channel; int8 1 B per weight + 4 B step and 4 B bias per channel."""
    from tvm_sepnet.train.models import conv_format, seed_net

    net = seed_net()
    quantized = {n for n, _ in net.quantizable_convs()}
    total = 0
    for name, conv in net.convs():
        n, o = conv.weight.numel(), conv.out_channels
        fmt = conv_format(config, conv.kernel_size[0]) if name in quantized else "float"
        total += {"float": 4 * n + 4 * o, "binary": (n + 7) // 8 + 8 * o, "int8": n + 8 * o}[fmt]
    return total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = p.parse_args()
    import torch

    from tvm_sepnet.train import seed_procedure
    from tvm_sepnet.train.cli import train_and_export
    from tvm_sepnet.train.data import digits
    from tvm_sepnet.train.fit import accuracy, seeded
    from tvm_sepnet.train.models import CONFIGS

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    data = digits()
    runs = []
    for seed in args.seeds:
        net = seed_procedure.train_float(data, seeded(seed))
        state = net.state_dict()
        base = accuracy(net, data["x_test"], data["y_test"])
        for procedure in ("seed", "qat"):
            for config in CONFIGS:
                r = train_and_export(procedure, config, seed, None, 0, 4, float_state=state)
                r.pop("model")
                r["float_start_accuracy"] = base
                runs.append(r)
                print(f"seed {seed} {procedure:4} {config:16} {r['accuracy'] * 100:6.2f} % "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
    rows = []
    for procedure in ("seed", "qat"):
        for config, qc in CONFIGS.items():
            acc = [r["accuracy"] for r in runs if r["procedure"] == procedure and r["config"] == config]
            rows.append({"procedure": procedure, "config": config, "kxk": qc.kxk, "pointwise": qc.pointwise,
                         "act_bits": qc.act_bits, "accuracy_mean": float(np.mean(acc)),
                         "accuracy_std": float(np.std(acc)), "accuracies": acc, "weight_bytes": weight_bytes(qc)})
    os.makedirs(args.out, exist_ok=True)
    import subprocess

    cpu = subprocess.run(["grep", "-m1", "model name", "/proc/cpuinfo"], capture_output=True, text=True).stdout
    result = {"command": "python benchmarks/accuracy_table.py", "seeds": args.seeds, "test_images": 360,
              "machine": cpu.split(":", 1)[-1].strip(), "seconds": time.perf_counter() - t0, "rows": rows, "runs": runs}
    with open(os.path.join(args.out, "accuracy.json"), "w") as f:
        json.dump(result, f, indent=1)
    lines = ["| procedure | config | k×k | 1×1 | act bits | top-1 % (mean ± std) | weight bytes |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['procedure']} | {r['config']} | {r['kxk']} | {r['pointwise']} | "
                     f"{r['act_bits'] or 'float'} | {r['accuracy_mean'] * 100:.2f} ± {r['accuracy_std'] * 100:.2f} | "
                     f"{r['weight_bytes']:,} |")
    with open(os.path.join(args.out, "accuracy.md"), "w") as f:
        f.write(f"Digits test split (360 images), mini SEP-Net, seeds {args.seeds}; "
                f"`python benchmarks/accuracy_table.py` ({result['seconds']:.0f} s on {result['machine']}, 1 thread)\n\n")
        f.write("\n".join(lines) + "\n")
    from tvm_sepnet.figures import save_figure, subplots

    fig, ax = subplots(figsize=(8, 4))
    names = list(CONFIGS)
    for k, procedure in enumerate(("seed", "qat")):
        sel = [r for r in rows if r["procedure"] == procedure]
        ax.bar(np.arange(len(names)) + (k - 0.5) * 0.4, [r["accuracy_mean"] * 100 for r in sel], 0.4,
               yerr=[r["accuracy_std"] * 100 for r in sel], label=procedure, capsize=3)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("top-1 % (digits test)")
    ax.set_ylim(0, 100)
    ax.legend()
    save_figure(fig, os.path.join(args.out, "accuracy.png"))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
