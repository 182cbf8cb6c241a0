"""Training throughput: the seed's ``unet`` at 400 px against the machine's bound, or presets.

The bound: a training step costs about 3x the forward FLOPs (forward, and a
backward pass of twice the forward), 3 x 59 GFLOP per 400 px chip for the seed
U-Net; divided into the fp32 GFLOP/s this machine reaches on sgemm (measured
here with torch.matmul) it gives the best chips/s a training step could reach.

    .venv/bin/python benchmarks/train_throughput.py                 # full run
    .venv/bin/python benchmarks/train_throughput.py --quick   # smoke: 200 px, 2 steps
    .venv/bin/python benchmarks/train_throughput.py --presets cpu cpu-fast

``--presets`` times each named preset's own training step instead (its net, chip size,
batch and loss, channels-last as ``basiss train`` runs it) and counts its forward FLOPs
per chip (``torch.utils.flop_counter``), so the presets' summaries can say what one
costs against another.

Prints a table and appends one line to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from basiss.models import create_model
from basiss.training.losses import make_loss
from basiss.training.presets import PRESETS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_record_args, print_table, record  # noqa: E402

UNET_GFLOP_400 = 59.0  # forward GFLOP of the seed U-Net on one 400x400x3 chip


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best fp32 GFLOP/s of an ``n x n`` torch matmul (2 n^3 FLOP each)."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def train_chips_per_s(
    arch: str,
    size: int,
    batch: int,
    steps: int,
    warmup: int,
    channels_last: bool,
    arch_kwargs: dict | None = None,
    loss: str = "bce",
) -> float:
    """Median-free simple rate: chips per second over ``steps`` timed Adam steps."""
    torch.manual_seed(0)
    n_classes = 2 if arch == "unet" else 1
    model = create_model(arch, 3, n_classes, **(arch_kwargs or {}))
    x = torch.rand(batch, 3, size, size)
    y = (torch.rand(batch, size, size) > 0.85).to(torch.uint8)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = make_loss(loss)
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(warmup):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t)


def forward_gflop(arch: str, size: int, arch_kwargs: dict) -> float:
    """Forward GFLOP of one ``size`` px RGB chip (convolutions and matmuls counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    model = create_model(arch, 3, 1, **arch_kwargs).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def run_presets(args: argparse.Namespace) -> int:
    """Time each named preset's training step; print and record one line."""
    rows = []
    for name in args.presets:
        v = PRESETS[name].values
        size, kw = int(v["slice"][0]), dict(v.get("arch_kwargs", {}))
        rate = train_chips_per_s(
            v["arch"], size, int(v["batch_size"]), args.steps, args.warmup, True, kw, v["loss"]
        )
        rows.append((name, f"{v['arch']} {kw}", size, forward_gflop(v["arch"], size, kw), rate))
    print_table(
        ["preset", "net", "px", "GFLOP fwd", "chips/s"],
        rows,
        ["<10", "<26", ">5d", ">10.2f", ">9.2f"],
    )
    if not args.no_record:
        figures = "; ".join(
            f"{n} ({net}, {px} px): {g:.2f} GFLOP/chip fwd, {r:.2f} chips/s"
            for n, net, px, g, r in rows
        )
        record("train_throughput presets", f"{args.threads} threads, {args.steps} steps: {figures}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--arch", default="unet", help="registered model (the bound assumes unet)")
    p.add_argument("--size", type=int, default=400, help="chip size in pixels")
    p.add_argument("--batch", type=int, default=4, help="chips per step")
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument(
        "--warmup", type=int, default=3, help="untimed steps first (2 under-report a small net)"
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument(
        "--quick", action="store_true", help="smoke: 200 px chips, 2 timed steps, 1 warm-up"
    )
    p.add_argument(
        "--presets", nargs="+", choices=sorted(PRESETS), default=None, metavar="NAME",
        help="time these presets' training steps instead (their net, chip, batch, loss)",
    )  # fmt: skip
    add_record_args(p)
    args = p.parse_args()
    if args.quick:
        args.size, args.steps, args.warmup = 200, 2, 1
    torch.set_num_threads(args.threads)
    if args.presets:
        return run_presets(args)

    gflops = sgemm_gflops()
    fwd = UNET_GFLOP_400 * (args.size / 400) ** 2
    bound = gflops / (3 * fwd)
    rows = []
    for cl in (False, True):
        rate = train_chips_per_s(args.arch, args.size, args.batch, args.steps, args.warmup, cl)
        rows.append((cl, rate))
    print(f"sgemm (torch.matmul 2048^2, {args.threads} threads): {gflops:.1f} GFLOP/s")
    print(f"bound: {gflops:.1f} / (3 x {fwd:.1f} GFLOP) = {bound:.2f} chips/s")
    print_table(
        ["memory format", "chips/s", "of bound", "GFLOP/s"],
        [
            ("channels-last" if cl else "contiguous", rate, rate / bound, rate * 3 * fwd)
            for cl, rate in rows
        ],
        ["<16", ">10.3f", ">10.0%", ">10.1f"],
        sep="",
    )
    if not args.no_record:
        figures = "; ".join(
            f"{'channels-last' if cl else 'contiguous'} {rate:.2f} chips/s "
            f"({rate / bound:.0%} of bound)"
            for cl, rate in rows
        )
        record(
            "train_throughput",
            f"{args.arch} {args.size} px batch {args.batch}, {args.threads} threads, "
            f"{args.steps} steps: sgemm {gflops:.0f} GFLOP/s, bound {bound:.2f} chips/s; "
            f"{figures}",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
