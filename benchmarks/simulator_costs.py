"""Benchmark the costs of the controlled fusion experiments on simulated embeddings.

Measures, on whatever machine runs it, at n = 8,000 (the size of the planned experiments):

1. the simulator: latent sampling (cold, with its reference sample, and warm), each preset;
2. one NeuCo-Bench evaluation (K = 40 folds, 20 epochs, all 11 tasks) with the linear and the
   ridge probe, for a 1,024-d and a 64-d embedding (simulated blocks carrying every task group);
3. one compressor epoch (the paper's architecture: hidden 2048, out 1024, batch 32, fused AdamW,
   the training loop of ``fusion.train``: shuffled batches, weighted loss, backward, optimiser and
   scheduler step, then the validation pass) for inputs of 512 and 2,048 floats;
4. optionally (``--validate N``), the simulator's latents against N scenes rendered by the
   synthetic generator itself (means, standard deviations, two-sample KS tests, correlations).

Usage: ``python benchmarks/simulator_costs.py [--n 8000] [--threads 1] [--validate 1000]
[--out FILE.md]`` (default output ``benchmarks/results/simulator_costs.md``).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from e2s_utils import fusion
from e2s_utils.data import scene_latents, synthetic
from e2s_utils.data import simulator as sim
from e2s_utils.data.labels import LabelTask
from e2s_utils.evaluate import evaluate

RESULTS = Path(__file__).resolve().parent / "results" / "simulator_costs.md"


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def _timed(fn, *args, repeat: int = 1, **kwargs) -> tuple[float, object]:  # noqa: ANN001
    """Fastest of ``repeat`` runs (seconds) and the last result: the least contended estimate."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, out


def simulator_costs(n: int) -> pd.DataFrame:
    """Seconds to sample latents and to simulate each preset (512 floats per block)."""
    sim._reference.cache_clear()
    rows = []
    sec, _ = _timed(sim.sample_latents, n, 0)
    rows.append({"what": f"latents, n = {n}, cold (incl. the 2,048-sample reference)", "s": sec})
    sec, _ = _timed(sim.sample_latents, n, 1)
    rows.append({"what": f"latents, n = {n}, warm", "s": sec})
    for name in sim.PRESETS:
        specs = sim.preset(name)
        sec, _ = _timed(sim.simulate, specs, n, 0)
        width = sum(s.channels * s.seasons for s in specs)
        rows.append(
            {"what": f"simulate preset {name} ({len(specs)} blocks, {width} floats)", "s": sec}
        )
    return pd.DataFrame(rows)


def evaluation_costs(n: int, threads: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seconds of one evaluation (K = 40, 20 epochs, 11 tasks) per probe and width."""
    rows, scores = [], {}
    for dim in (64, 1024):
        spec = sim.BlockSpec(f"all{dim}", dict.fromkeys(sim.TASK_GROUP_FACTORS, 1.0), dim)
        s = sim.simulate([spec], n, seed=0)
        x = s.flat()
        for probe in ("ridge", "linear"):
            load = _load()
            kwargs = {"probe": probe, "k_folds": 40, "epochs": 20, "num_threads": threads}
            sec, res = _timed(evaluate, s.ids, x, s.tasks, repeat=2 if dim <= 128 else 1, **kwargs)
            rows.append({"d": dim, "probe": probe, "s": sec, "Q̄": res.q_bar, "load before": load})
            scores[f"{probe}, d = {dim}"] = {t: r.q for t, r in res.tasks.items()}
            print(f"evaluate d={dim} {probe}: {sec:.1f} s, Q̄ {res.q_bar:.2f}", flush=True)
    return pd.DataFrame(rows), pd.DataFrame(scores).round(1)


def _epoch(
    x_train: torch.Tensor, x_val: torch.Tensor, cfg: fusion.FusionConfig, shapes: dict
) -> dict:
    """Time one epoch of ``fusion.train``'s loop (steps, then the validation pass); 1 run."""
    torch.manual_seed(cfg.seed)
    model = fusion.build_model(cfg, shapes)
    opt = fusion.make_optimizer(model, cfg, "cpu")
    steps = len(x_train) // cfg.batch_size
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, cfg.milestone_steps(steps), cfg.gamma)
    perm = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(cfg.seed))
    t0 = time.perf_counter()
    model.train()
    marks = [t0]
    for step in range(steps):
        xb = x_train.index_select(0, perm[step * cfg.batch_size : (step + 1) * cfg.batch_size])
        _, recon = model(xb)
        loss, _ = fusion.reconstruction_losses(model, recon, xb, cfg.loss_weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 10 == 0:
            marks.append(time.perf_counter())
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.eval()
    with torch.no_grad():
        for chunk in x_val.split(512):
            _, recon = model(chunk)
            fusion.reconstruction_losses(model, recon, chunk, cfg.loss_weights)
    return {
        "parameters": f"{fusion.count_parameters(model):,}",
        "steps of 32": steps,
        "train s": t_train,
        "ms per step": 1000 * t_train / steps,
        "fastest 10 steps, ms per step": 100 * float(np.diff(marks).min()) if steps >= 10 else None,
        f"validation s ({len(x_val)} samples)": time.perf_counter() - t0,
    }


def compressor_epoch(n: int, width: int, threads: int) -> dict:
    """One epoch of the paper's compressor (out 1024) on all ``n`` samples, ``width`` inputs."""
    torch.set_num_threads(threads)
    groups = ("vegetation", "agriculture", "heat", "atmosphere")
    specs = [sim.BlockSpec(g, dict.fromkeys(sim.FACTOR_GROUPS[g], 1.0), width // 4) for g in groups]
    s = sim.simulate(specs, n, seed=0)
    x_train = torch.from_numpy(s.flat())
    dev = set(s.split()["dev"])
    x_val = x_train[[k for k, i in enumerate(s.ids) if i in dev]]
    shapes = {b.name: b.shape for b in specs}
    cfg = fusion.FusionConfig(models=tuple(shapes))
    return {
        "threads": threads,
        "input floats": x_train.shape[1],
        **_epoch(x_train, x_val, cfg, shapes),
    }


PLAN_N, PLAN_WIDTH, PLAN_OUT = 13260, 128, 64
PLAN_TRAIN, PLAN_VAL, PLAN_SMALL, PLAN_SMALL_VAL = 2048, 1024, 128, 512


def _total(row: dict) -> float:
    return sum(v for k, v in row.items() if k == "train s" or k.startswith("validation s"))


def _encode(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model.encode(c) for c in x.split(512)])


def plan_units(threads: int) -> tuple[dict, pd.DataFrame]:
    """The unit costs of the proposed plan (seconds), measured on its own settings."""
    torch.set_num_threads(threads)
    specs = {b.name: b for name in sim.PRESETS for b in sim.preset(name, width=PLAN_WIDTH)}
    sec_sim, s = _timed(sim.simulate, list(specs.values()), PLAN_N, 0)
    split = s.split()
    pos = {i: k for k, i in enumerate(s.ids)}
    ev = [pos[i] for i in split["eval"]]
    units, rows = {"simulate": sec_sim}, []
    for preset_name, n_train, n_val in (
        ("complementary", PLAN_TRAIN, PLAN_VAL),
        ("nuisance", PLAN_TRAIN, PLAN_VAL),
        ("nuisance", PLAN_SMALL, PLAN_SMALL_VAL),
    ):
        names = [b.name for b in sim.preset(preset_name, width=PLAN_WIDTH)]
        x = torch.from_numpy(s.flat(names))
        dev = [pos[i] for i in split["dev"][:n_val]]
        shapes = {b: specs[b].shape for b in names}
        cfg = fusion.FusionConfig(models=tuple(names), out_dim=PLAN_OUT)
        row = min((_epoch(x[ev[:n_train]], x[dev], cfg, shapes) for _ in range(2)), key=_total)
        units[f"epoch {preset_name} {n_train}"] = _total(row)
        rows.append(
            {"inputs": preset_name, "input floats": x.shape[1], "train samples": n_train, **row}
        )
        if n_train == PLAN_TRAIN and preset_name == "complementary":
            model = fusion.build_model(cfg, shapes).eval()
            units["embed"], z = _timed(_encode, model, x[ev], repeat=2)
    eval_ids = split["eval"]
    units["n eval"] = len(eval_ids)
    tasks = {
        k: LabelTask(t.name, t.kind, t.labels[t.labels.index.isin(set(eval_ids))])
        for k, t in s.tasks.items()
    }
    probed = {16: s.flat(["narrow"])[ev], 64: z.numpy(), 128: s.flat(["wide"])[ev]}
    for dim, x_eval in probed.items():
        for probe in ("linear", "ridge"):
            kwargs = {"probe": probe, "k_folds": 40, "epochs": 20, "num_threads": threads}
            units[f"{probe} {dim}"], _ = _timed(
                evaluate, eval_ids, x_eval, tasks, repeat=2, **kwargs
            )
    return units, pd.DataFrame(rows)


#: The proposed plan: (experiment, what, count, unit).
PLAN: tuple[tuple[str, str, int, str], ...] = (
    ("all", "simulate every preset's blocks once (n = 13,260, 128 floats each)", 1, "simulate"),
    (
        "E1 diversity",
        "train complementary, overlapping: 6 epochs each",
        12,
        "epoch complementary 2048",
    ),
    ("E1 diversity", "train duplicated: 6 epochs", 6, "epoch nuisance 2048"),
    ("E1 diversity", "embed + linear probe, final checkpoint of each", 3, "linear 64"),
    ("E1 diversity", "ridge probe, final checkpoint of each", 3, "ridge 64"),
    ("E2 MSE vs Q", "train nuisance (complementary + randvit): 6 epochs", 6, "epoch nuisance 2048"),
    (
        "E2 MSE vs Q",
        "linear probe at epochs 0, 2, 6 (nuisance) and 0, 2 (complementary)",
        5,
        "linear 64",
    ),
    (
        "E3 long run",
        f"nuisance on {PLAN_SMALL} samples, lr 1e-3, no dropout/decay: 200 epochs",
        200,
        "epoch nuisance 128",
    ),
    ("E3 long run", "linear probe at epochs 0, 8, 32, 128, 200", 5, "linear 64"),
    ("E4 access", "narrow (16-d): linear", 1, "linear 16"),
    ("E4 access", "narrow (16-d): ridge", 1, "ridge 16"),
    ("E4 access", "wide, warped, scrambled (128-d): linear", 3, "linear 128"),
    ("E4 access", "wide, warped, scrambled (128-d): ridge", 3, "ridge 128"),
    ("all", "embeddings of the 14 probed checkpoints", 14, "embed"),
)


PLAN_NOTES = """\
Shared setting: one simulation of n = 13,260 (the release's size: its hash split gives about 8,150
eval ids, the probe's n, and 5,100 dev ids), seed 0, every preset's blocks at 128 floats. Probes:
the paper protocol (K = 40, 20 epochs, all 11 tasks) on the eval split, the ridge probe beside it.
Compressor: the paper's architecture and optimiser (LayerNorm, dropout 0.1, hidden 2048, AdamW
1e-4, weight decay 0.05, batch 32, decay at 60 % and 90 %) with two changes the budget forces:
64 outputs instead of 1,024 (a 1,024-d probe costs about 10x a 64-d one with the linear probe and
about 80x with ridge, see above; 512 -> 64 inputs is an 8x compression, the paper's is 20x) and
2,048 eval ids to train on (64 steps per epoch), validation MSE on 1,024 dev ids.

* **E1 diversity vs reconstruction.** complementary vs overlapping (equal width and shapes, about
  equal information per factor: the contrast is diversity alone), and duplicated (complementary
  plus an exact copy of veg: more width and reconstruction weight, no information). 6 epochs
  each; at the last: validation MSE (total and per block), Q̄ with both probes.
* **E2 MSE vs Q̄ with a block that is hard to reconstruct.** nuisance (complementary plus randvit,
  128 task-free channels with 9x a signal channel's variance) vs complementary (E1's run),
  checkpoints 0, 2 and 6: MSE per block, Q̄ (linear).
* **E3 long training.** nuisance on 128 eval ids, lr 1e-3, no dropout, no decay, 200 epochs,
  validation MSE every epoch on 512 dev ids, Q̄ at epochs 0, 8, 32, 128 and 200. At 64 outputs
  this shows the long-run relation of MSE and Q̄ but cannot interpolate its training set, so no
  double descent is expected. (Pilot runs outside this script: with 256 outputs the compressor
  interpolated its 128 samples by epoch 40, its validation MSE bottomed out near epoch 150 and
  rose 2.4 % by epoch 400 while Q̄ fell from 46.7 to 42.8, with no second descent by epoch 400,
  about two minutes of training alone.)
* **E4 information vs ease of optimisation** (no compressor): access's narrow (16-d) and wide
  (128-d) blocks carry the same information (equal noise² / S); warped and scrambled carry it
  at 128-d through the spiral (strength 1.5 and 3). Each with the linear and the ridge probe:
  ridge - linear on one block is the probe's optimisation shortfall; narrow vs wide, the effect
  of redundancy at equal information; wide vs warped / scrambled under ridge, the information a
  linear read-out cannot reach.

Statistics: a task's 40 fold scores are paired across conditions (same ShuffleSplit folds, same
ids), so every contrast is a per-task paired difference of fold means with a fold-bootstrap 95 %
interval, and a Q̄ difference with a stratified bootstrap (resample folds within each task,
recompute each task's Q, then Q̄; 2,000 resamples), plus the probability of improvement across
tasks; E2 adds the Spearman correlation of -MSE and Q̄ over checkpoints, pooled over the two
runs and within each; E3 compares any rise of the validation MSE after its minimum with its
epoch-to-epoch jitter (a rise or second descent only if it exceeds 3 rolling sd). All of this
covers the probe's split randomness only: one simulation seed and one compressor seed per
condition; a second compressor seed for E1's main contrast adds one E1 condition's cost.

The budget counts the training steps, validation passes and probes measured above; the run
directory bookkeeping of `fusion.train` (history file, best state, checkpoints) adds about
0.08 s per epoch here (a pilot's 200 small epochs took 31 s instead of 14), about 20 s in all.
Measured with one thread beside other jobs (see the load averages): an upper estimate for two
idle cores.
"""


def plan_budget(units: dict) -> pd.DataFrame:
    """Seconds per line of :data:`PLAN` from the measured unit costs."""
    rows = [
        {"experiment": e, "what": w, "count": c, "unit": u, "unit s": units[u], "s": c * units[u]}
        for e, w, c, u in PLAN
    ]
    return pd.DataFrame(rows)


def _render(args: tuple[int, int]) -> dict:
    return synthetic.generate_scene(*args).latents


def validate(n_scenes: int, workers: int) -> tuple[pd.DataFrame, float, float]:
    """Simulated latents (13,260) against ``n_scenes`` rendered scenes of seed 7."""
    from scipy.stats import ks_2samp

    with ProcessPoolExecutor(workers) as pool:
        rendered = pd.DataFrame(
            list(pool.map(_render, [(7, i) for i in range(n_scenes)], chunksize=8))
        )
    lat = scene_latents.sample_latents(13260, 3)
    rows = []
    for col in rendered.columns:
        a, b = rendered[col].to_numpy(), lat[col].to_numpy()
        ks = ks_2samp(a, b)
        rows.append(
            {
                "latent": col,
                "mean, rendered": a.mean(),
                "mean, simulated": b.mean(),
                "difference / s.e.": (b.mean() - a.mean())
                / np.sqrt(a.var() / len(a) + b.var() / len(b) + 1e-300),
                "sd, rendered": a.std(),
                "sd, simulated": b.std(),
                "zeros, rendered": (a == 0).mean(),
                "zeros, simulated": (b == 0).mean(),
                "KS D": ks.statistic,
                "KS p": ks.pvalue,
            }
        )
    cols = [c for c in rendered.columns if c != "scene"]
    corr_diff = np.abs(rendered[cols].corr().to_numpy() - lat[cols].corr().to_numpy()).max()
    share = rendered["scene"].value_counts(normalize=True).reindex(range(8), fill_value=0)
    scene_diff = float(np.abs(share.to_numpy() - synthetic._SCENE_P).max())
    return pd.DataFrame(rows), float(corr_diff), scene_diff


def main() -> None:
    """Run the measurements and write the markdown report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the probes")
    parser.add_argument("--validate", type=int, default=0, help="rendered scenes to compare")
    parser.add_argument("--skip-eval", action="store_true", help="skip the probe timings")
    parser.add_argument("--skip-plan", action="store_true", help="skip the plan's unit costs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    lines = [
        "# Simulator and controlled-experiment costs",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python "
        f"{platform.python_version()}, torch {torch.__version__}, device cpu. Probe threads: "
        f"{args.threads}. Load average at start: {_load()}.",
        "",
        f"Command: `python benchmarks/simulator_costs.py --n {args.n} --threads {args.threads}"
        + (f" --validate {args.validate}" if args.validate else "")
        + (" --skip-eval" if args.skip_eval else "")
        + (" --skip-plan" if args.skip_plan else "")
        + "`",
        "",
        f"## Simulator (n = {args.n}, 512 floats per block)",
        "",
        simulator_costs(args.n).round(2).to_markdown(index=False),
        "",
    ]
    if not args.skip_eval:
        timing, scores = evaluation_costs(args.n, args.threads)
        lines += [
            f"## One evaluation: K = 40 folds, 20 epochs, 11 tasks, n = {args.n}",
            "",
            "Embedding: one simulated block carrying every task group (13 factors, noise 1). At a "
            "fixed noise per channel the 1,024-d block carries more information than the 64-d one "
            "(signal-to-noise ratio grows with the channels), so their Q differ by design; "
            "fastest of 2 runs for d = 64.",
            "",
            timing.round(2).to_markdown(index=False),
            "",
            "Task Q of those runs:",
            "",
            scores.to_markdown(),
            "",
        ]
    load = _load()
    epochs = pd.DataFrame([compressor_epoch(args.n, w, t) for t in (1, 2) for w in (512, 2048)])
    torch.set_num_threads(os.cpu_count() or 1)
    lines += [
        f"## One compressor epoch (n = {args.n}, hidden 2048, out 1024, batch 32)",
        "",
        f"Load average before: {load}; after: {_load()}. The fastest 10-step window estimates "
        "the rate on uncontended cores.",
        "",
        epochs.round(2).to_markdown(index=False),
        "",
    ]
    if not args.skip_plan:
        units, epochs_plan = plan_units(args.threads)
        budget = plan_budget(units)
        lines += [
            f"## Unit costs of the proposed plan (n = {PLAN_N}, {args.threads} thread)",
            "",
            f"Blocks of {PLAN_WIDTH} floats; compressor out {PLAN_OUT}, hidden 2048, batch 32; "
            f"probes on the eval split's {units['n eval']} samples. Load average: {_load()}.",
            "",
            epochs_plan.round(3).to_markdown(index=False),
            "",
            pd.Series({k: v for k, v in units.items() if k != "n eval"}, name="s")
            .round(2)
            .to_frame()
            .to_markdown(),
            "",
            "## Proposed plan for the controlled fusion notebook",
            "",
            PLAN_NOTES,
            "Budget from the unit costs above:",
            "",
            budget.round(2).to_markdown(index=False),
            "",
            f"Total: {budget['s'].sum():.0f} s "
            + ", ".join(
                f"({e}: {v:.0f} s)" for e, v in budget.groupby("experiment")["s"].sum().items()
            )
            + ".",
            "",
        ]
    if args.validate:
        table, corr_diff, scene_diff = validate(args.validate, workers=os.cpu_count() or 1)
        lines += [
            f"## Latents: simulated (13,260, seed 3) against {args.validate} rendered scenes",
            "",
            table.round(3).to_markdown(index=False),
            "",
            f"Largest difference between the correlation matrices of the {15} latents: "
            f"{corr_diff:.3f}; largest difference of a scene type's share from its probability: "
            f"{scene_diff:.3f}.",
            "",
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
