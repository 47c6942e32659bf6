"""Benchmark the fusion stage: compressor training throughput and the cost of scoring checkpoints.

Measures, on whatever machine runs it:

1. training samples/s of the compressor (forward, weighted loss, backward, AdamW and scheduler step;
   batch 32) for the ``tiny`` five-model input (4,992 floats) and the paper's full input (20,992
   floats, 66.65 M parameters);
2. the cost of evaluating one checkpoint (embedding plus the linear and ridge probes over 11 tasks)
   at a demo-sized and a larger eval split, and what that makes for every checkpoint of a run.

Usage: ``python benchmarks/fusion_training.py [--device cuda] [--steps 10] [--eval-n 239 2000]
[--protocol paper] [--out FILE.md]`` (default output ``benchmarks/results/fusion_training.md``).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from e2s_utils import fusion
from e2s_utils.config import foundation_models
from e2s_utils.data.labels import LabelTask
from e2s_utils.evaluate import PROTOCOL_NAMES, Protocol, get_protocol
from e2s_utils.models import get_spec
from e2s_utils.store import FusionData

TINY_SHAPES = {
    "copernicusfm": (192, 4),
    "dofa": (384, 4),
    "croma": (192, 4),
    "prithvi": (384, 1),
    "scalemae": (384, 4),
}


def paper_shapes() -> dict[str, tuple[int, int]]:
    """The paper's five output shapes ``(C, T)`` as its published code ran them (20,992 floats)."""
    return {m: get_spec(m).output_shape("as_published_code", "full") for m in foundation_models()}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def train_throughput(
    shapes: dict,
    steps: int,
    batch: int = 32,
    warmup: int = 3,
    device: str = "cpu",
    fused: bool = True,
) -> dict:
    """Samples/s of the training step on random inputs (after ``warmup`` untimed steps)."""
    cfg = fusion.FusionConfig(models=tuple(shapes), batch_size=batch)
    model = fusion.build_model(cfg, shapes).to(device)
    opt = fusion.make_optimizer(model, cfg, device, fused=fused)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[10**9], gamma=cfg.gamma)
    x = torch.randn(batch * 4, model.in_dim, device=device)
    times = []
    for i in range(warmup + steps):
        xb = x[(i % 4) * batch : (i % 4 + 1) * batch]
        _sync(device)
        t0 = time.perf_counter()
        _, recon = model(xb)
        loss, _ = fusion.reconstruction_losses(model, recon, xb, cfg.loss_weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    per_step = float(np.median(times))
    return {
        "input": model.in_dim,
        "parameters": fusion.count_parameters(model),
        "AdamW": "fused" if fused else "for-loop",
        "batch": batch,
        "median step (ms)": per_step * 1e3,
        "samples/s": batch / per_step,
    }


def _dur(seconds: float) -> str:
    """A duration in the unit that reads best."""
    if seconds < 120:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def fake_tasks(ids: list[str], seed: int = 0) -> dict[str, LabelTask]:
    """Nine regression and two classification tasks over ``ids`` (the count of the benchmark)."""
    rng = np.random.default_rng(seed)
    tasks = {}
    for k in range(11):
        kind = "classification" if k >= 9 else "regression"
        y = rng.random(len(ids))
        y = (y > 0.5).astype(float) if kind == "classification" else y
        name = f"task{k}"
        tasks[name] = LabelTask(name, kind, pd.Series(y, index=pd.Index(ids, name="id"), name=name))
    return tasks


def checkpoint_eval_cost(n: int, protocol: Protocol, shapes: dict, device: str = "cpu") -> dict:
    """Seconds to embed and score one checkpoint with both probes (11 tasks, n samples)."""
    rng = np.random.default_rng(0)
    ids = [f"{i:064x}" for i in range(n)]
    data = FusionData(
        ids, {m: rng.standard_normal((n, c, t)).astype(np.float32) for m, (c, t) in shapes.items()}
    )
    cfg = fusion.FusionConfig(models=tuple(shapes), epochs=0)
    with tempfile.TemporaryDirectory() as tmp:
        fusion.train(cfg, data, None, Path(tmp), progress=False)
        tasks = fake_tasks(ids)
        t0 = time.perf_counter()
        fusion.evaluate_checkpoints(
            Path(tmp),
            data,
            tasks,
            protocol,
            probes=("linear",),
            device=device,
            progress=False,
        )
        t1 = time.perf_counter()
        fusion.evaluate_checkpoints(
            Path(tmp),
            data,
            tasks,
            protocol,
            probes=("linear", "ridge"),
            device=device,
            progress=False,
        )
        t2 = time.perf_counter()
        fusion.evaluate_checkpoints(Path(tmp), data, tasks, protocol, progress=False)
        t3 = time.perf_counter()
    return {
        "n": n,
        "folds x epochs": f"{protocol.k_folds} x {protocol.epochs}",
        "linear (s)": t1 - t0,
        "ridge (s)": t2 - t1,
        "cached rerun (s)": t3 - t2,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the Markdown report."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "fusion_training.md"
    )
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    p.add_argument("--eval-n", type=int, nargs="+", default=[239], help="eval split sizes")
    p.add_argument(
        "--protocol", choices=PROTOCOL_NAMES, default="paper", help="benchmark protocol preset"
    )
    args = p.parse_args(argv)
    protocol = get_protocol(args.protocol)
    torch.manual_seed(0)
    load = os.getloadavg()
    train_rows = []
    for name, shapes in (
        ("tiny (5 models)", TINY_SHAPES),
        ("paper full (5 models)", paper_shapes()),
    ):
        for fused in (False, True):  # fused is what fusion.train uses
            row = train_throughput(shapes, args.steps, device=args.device, fused=fused)
            train_rows.append({"input set": name, **row})
            print(train_rows[-1], flush=True)
    eval_rows = []
    for n in args.eval_n:
        eval_rows.append(checkpoint_eval_cost(n, protocol, TINY_SHAPES, args.device))
        print(eval_rows[-1], flush=True)
    train_df, eval_df = pd.DataFrame(train_rows), pd.DataFrame(eval_rows)
    eval_df["per checkpoint, both probes (s)"] = eval_df["linear (s)"] + eval_df["ridge (s)"]
    demo_ckpts = len(
        fusion.FusionConfig(models=("dofa",), checkpoint_every=10).checkpoint_schedule()
    )
    paper_ckpts = len(fusion.FusionConfig(models=("dofa",)).checkpoint_schedule())
    per_demo = float(eval_df["per checkpoint, both probes (s)"].iloc[0])
    used = train_df[train_df["AdamW"] == "fused"]
    tiny_rate, full_rate = (float(r) for r in used["samples/s"])
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else "no GPU used"
    lines = [
        "# Fusion benchmark: training throughput and checkpoint evaluation cost",
        "",
        f"Device: {args.device} ({gpu}). "
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads. Load average when the run started: "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
        + (
            " (other jobs shared the cores: treat the rates as lower bounds of an idle machine)."
            if load[0] > (os.cpu_count() or 1)
            else "."
        ),
        "",
        f"Command: `python benchmarks/fusion_training.py --device {args.device} --steps "
        f"{args.steps} --eval-n "
        f"{' '.join(map(str, args.eval_n))} --protocol {args.protocol}`",
        "",
        "## Training (forward + weighted loss + backward + AdamW + scheduler step, fp32)",
        "",
        train_df.to_markdown(index=False, floatfmt=".4g"),
        "",
        "Rates with the fused AdamW (what `fusion.train` uses): one epoch of the paper (8,100 "
        f"eval samples, 253 steps of 32) at the full input takes {_dur(8096 / full_rate)}, the "
        f"paper's 160 epochs {_dur(160 * 8096 / full_rate)} and the long run's 4,800 epochs "
        f"{_dur(4800 * 8096 / full_rate)} (optimisation only). The demo profile "
        f"({args.eval_n[0]} training samples, {args.eval_n[0] // 32} steps of 32 per epoch, "
        f"160 epochs) at the tiny input: {_dur(160 * (args.eval_n[0] // 32) * 32 / tiny_rate)} "
        "of optimisation.",
        "",
        "## Evaluating one checkpoint (embedding + NeuCo-Bench probe over 11 tasks)",
        "",
        eval_df.to_markdown(index=False, floatfmt=".3g"),
        "",
        f"Every checkpoint of the demo run ({demo_ckpts} checkpoints at 10-epoch cadence, "
        f"n = {args.eval_n[0]}): "
        f"about {_dur(demo_ckpts * per_demo)} with both probes. The paper's run has "
        f"{paper_ckpts} checkpoints (5-epoch cadence); results are cached per checkpoint, so a "
        "rerun costs only the reading of the cache (last column).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
