"""The long-training study: does validation MSE descend twice, and does Q̄ follow?

The paper trained its compressor about 30x longer than the best-Q̄ epoch and saw a double descent
of validation MSE that did not carry over to Q̄. Its schedule drops the learning rate tenfold at
60 % and 90 % of all steps, and a drop alone can make the MSE descend again; so the study trains a
**constant-rate twin** beside the run (same seed, same data, no drops). The twin is identical to
the run until the first drop, so it is forked from the run's state there (bit-identical to a twin
trained from scratch) and only the rest is trained.

:func:`long_configs` makes both configurations (log-spaced checkpoints plus the drop epochs);
:func:`run_long` trains them (resumable) and evaluates every checkpoint (cached);
:mod:`~e2s_utils.studies.descents` finds the descents and whether a drop coincides with each;
:func:`long_summary` states what the evidence supports, with paired intervals for every Q̄
comparison.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from e2s_utils.cache import CacheKey
from e2s_utils.evaluate import stats
from e2s_utils.studies.descents import DescentAnalysis, detect_descents, drop_coincidences

if TYPE_CHECKING:
    from e2s_utils.config import Profile
    from e2s_utils.evaluate import EvalResult
    from e2s_utils.fusion import FusionConfig
    from e2s_utils.store.loader import FusionData, StudyInputs

#: Probes every checkpoint evaluation runs.
PROBES: tuple[str, ...] = ("linear", "ridge")


def log_spaced_epochs(total: int, n: int) -> tuple[int, ...]:
    """``n`` checkpoint epochs spaced log-uniformly over ``[1, total]``, with 0 in front.

    The result always starts with 0 (the untrained compressor) and ends with ``total``, is
    strictly increasing and has exactly ``n`` entries: rounding collisions at the dense early end
    are pushed up one epoch at a time, and pushed back down where that would crowd ``total``.

    Args:
        total: the last epoch (>= 1).
        n: number of epochs, 0 and ``total`` included (``2 <= n <= total + 1``).

    Returns:
        The epochs.

    Raises:
        ValueError: for ``total < 1``, ``n < 2`` or ``n > total + 1``.
    """
    total, n = int(total), int(n)
    if total < 1:
        raise ValueError(f"log_spaced_epochs: total must be >= 1, got {total}")
    if n < 2 or n > total + 1:
        raise ValueError(
            f"log_spaced_epochs: n must be between 2 and total + 1 = {total + 1}, got {n}"
        )
    if n == 2:
        return (0, total)
    raw = np.geomspace(1, total, n - 1)
    epochs = [0] + [int(round(v)) for v in raw]
    for i in range(1, n):
        epochs[i] = max(epochs[i], epochs[i - 1] + 1)
    epochs[-1] = total
    for i in range(n - 2, 0, -1):
        epochs[i] = min(epochs[i], epochs[i + 1] - 1)
    return tuple(epochs)


def twin_configs(
    base: FusionConfig, n_checkpoints: int, steps_per_epoch: int
) -> tuple[FusionConfig, FusionConfig, int]:
    """A run of ``base``, its constant-rate twin, and the epoch the twin forks at.

    Both are checkpointed at log-spaced epochs plus every epoch where the run's rate drops and
    the fork epoch (the last epoch before the first drop).
    """
    epochs = base.epochs
    steps = base.milestone_steps(steps_per_epoch)
    fork = min(steps) // steps_per_epoch if steps else epochs
    drops = {min(epochs, -(-s // steps_per_epoch)) for s in steps}
    marks = set(log_spaced_epochs(epochs, n_checkpoints)) | drops | {fork}
    run = dataclasses.replace(base, checkpoint_epochs=tuple(sorted(marks)))
    return run, dataclasses.replace(run, milestones=()), fork


def long_configs(profile: Profile, steps_per_epoch: int) -> tuple[FusionConfig, FusionConfig, int]:
    """The long run (the profile's compressor, longer), its constant-rate twin and the fork epoch
    (:func:`twin_configs`)."""
    base = dataclasses.replace(profile.fusion, epochs=profile.long.epochs)
    return twin_configs(base, profile.long.n_checkpoints, steps_per_epoch)


def train_with_twin(
    cfg: FusionConfig,
    twin_cfg: FusionConfig,
    fork: int,
    train: FusionData,
    val: FusionData,
    dirs: Mapping[str, Path],
    *,
    device: str,
    progress: bool,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train (or resume) the run in ``dirs["run"]``, keeping its state at ``fork``, then the twin
    in ``dirs["twin"]`` from that state; their histories."""
    from e2s_utils import fusion
    from e2s_utils.fusion import checkpoints as ck
    from e2s_utils.fusion.train import Fork

    run, twin = dirs["run"], dirs["twin"]
    history = fusion.train(
        cfg, train, val, run, device=device, progress=progress, keep_states=(fork,)
    )
    start = Fork(ck.state_path(run, fork), ck.kept_best_path(run, fork), history)
    twin_history = fusion.train(
        twin_cfg, train, val, twin, device=device, progress=progress, fork=start
    )
    return history, twin_history


@dataclass
class LongResult:
    """The long run and its constant-rate twin.

    Attributes:
        history: the run's per-epoch history (``epoch``, ``train_loss``, ``val_mse``, ``lr`` ...).
        curve: its per-checkpoint evaluation (``epoch``, ``val_mse``, ``q_bar``, ``q_<task>`` ...).
        run_dir: the run's folder.
        twin_history: the twin's per-epoch history (the run's rows up to the fork).
        twin_curve: the twin's per-checkpoint evaluation (the run's rows up to the fork).
        drops: epochs where the run's learning rate drops.
        fork_epoch: the last epoch the two share.
        folds: ``"run"`` / ``"twin"`` -> epoch -> task -> fold scores (the statistics' input).
    """

    history: pd.DataFrame
    curve: pd.DataFrame
    run_dir: Path
    twin_history: pd.DataFrame
    twin_curve: pd.DataFrame
    drops: list[float]
    fork_epoch: int
    folds: dict[str, dict[int, dict[str, np.ndarray]]] = field(default_factory=dict)


def _curve(
    run_dir: Path,
    probe_data: Any,
    inputs: StudyInputs,
    profile: Profile,
    device: str,
    progress: bool,
) -> tuple[pd.DataFrame, dict[int, dict[str, np.ndarray]]]:
    from e2s_utils import fusion

    results: dict[str, dict[str, EvalResult]] = {}
    curve = fusion.evaluate_checkpoints(
        run_dir,
        probe_data,
        inputs.tasks,
        profile.protocol,
        probes=PROBES,
        device=device,
        progress=progress,
        include_best_val=False,
        results=results,
    )
    curve = fusion.with_intervals(curve, results).sort_values("epoch").reset_index(drop=True)
    folds = {
        int(e): results[str(c)]["linear"].fold_scores()
        for e, c in zip(curve["epoch"], curve["checkpoint"], strict=True)
    }
    return curve, folds


def run_long(
    profile: Profile,
    inputs: StudyInputs,
    root: Path,
    *,
    device: str = "cpu",
    progress: bool = True,
) -> LongResult:
    """Train the long run and its constant-rate twin (resuming) and evaluate every checkpoint.

    The run lives in ``root/run__<key[:12]>`` and the twin in ``root/twin__<key[:12]>``, their keys
    holding the configuration, the data and the protocol; a rerun after any interruption only
    does what is left. Once both are evaluated, their snapshots are pruned when the profile says
    so (:attr:`~e2s_utils.config.Profile.prune_snapshots`).
    """
    from e2s_utils import fusion

    preset = profile.extract.preset
    data = inputs.splits(profile.fusion.models, preset)
    steps = data.train.n // profile.fusion.batch_size
    cfg, twin_cfg, fork = long_configs(profile, steps)
    stores = {m: inputs.fingerprint(m, preset) for m in cfg.models}
    dirs = {}
    for name, c in (("run", cfg), ("twin", twin_cfg)):
        key = CacheKey(
            "long",
            {
                "fusion": c.to_dict(),
                "preset": preset,
                "stores": stores,
                "inputs": inputs.identity(),
                "role": name,
                "fork": fork,
            },
        )
        dirs[name] = Path(root) / f"{name}__{key.short()}"
    history, twin_history = train_with_twin(
        cfg, twin_cfg, fork, data.train, data.val, dirs, device=device, progress=progress
    )
    curve, folds = _curve(dirs["run"], data.probe, inputs, profile, device, progress)
    twin_curve, twin_folds = _curve(dirs["twin"], data.probe, inputs, profile, device, progress)
    if profile.prune_snapshots:  # both evaluated: keep best-Q̄, best-MSE, last, the embeddings
        for run_dir, table in ((dirs["run"], curve), (dirs["twin"], twin_curve)):
            fusion.prune_snapshots(run_dir, fusion.reference_snapshots(table), data.probe)
    drops = [e for e in cfg.checkpoint_epochs or () if e in _drop_epochs(cfg, steps)]
    return LongResult(
        pd.DataFrame(history),
        curve,
        dirs["run"],
        pd.DataFrame(twin_history),
        twin_curve,
        [float(e) for e in drops],
        fork,
        {"run": folds, "twin": twin_folds},
    )


def _drop_epochs(cfg: FusionConfig, steps: int) -> set[int]:
    return {min(cfg.epochs, -(-s // steps)) for s in cfg.milestone_steps(steps)}


def _compare(folds: Mapping[str, Mapping[str, np.ndarray]], a: str, b: str) -> dict[str, Any]:
    comp = stats.compare({a: folds[a], b: folds[b]}, a, b)
    return {"comparison": comp.to_dict(), "text": stats.sentence(comp)}


def long_summary(result: LongResult, analysis: DescentAnalysis | None = None) -> dict[str, Any]:
    """What the long run shows: descents, whether rate drops explain them, whether Q̄ follows.

    Every comparison of Q̄ between two checkpoints is paired (same folds) and stated as an order
    only where its interval excludes zero.

    Returns:
        A dict of the numbers, the descents with their coinciding drops, the twin's descents,
        and the comparisons (``q_after_vs_before_bump``, ``run_vs_twin_at_end``).
    """
    from scipy.stats import spearmanr

    analysis = analysis or detect_descents(result.history["epoch"], result.history["val_mse"])
    twin = detect_descents(result.twin_history["epoch"], result.twin_history["val_mse"])
    curve = result.curve.sort_values("epoch")
    best = curve.loc[curve["q_bar"].idxmax()]
    out: dict[str, Any] = {
        "double_descent": analysis.double_descent,
        "n_descents": len(analysis.descents),
        "descents": drop_coincidences(analysis, result.drops),
        "bumps": analysis.maxima,
        "drops": result.drops,
        "fork_epoch": result.fork_epoch,
        "twin_double_descent": twin.double_descent,
        "twin_n_descents": len(twin.descents),
        "best_q_epoch": int(best["epoch"]),
        "best_q_bar": float(best["q_bar"]),
        "final_q_bar": float(curve["q_bar"].iloc[-1]),
        "min_val_mse": float(curve["val_mse"].min()),
        "min_val_mse_epoch": int(curve.loc[curve["val_mse"].idxmin(), "epoch"]),
    }
    trained = curve[curve["epoch"] > 0]
    if len(trained) >= 3:
        rho = spearmanr(trained["q_bar"], -np.log10(trained["val_mse"])).statistic
        out["spearman_q_vs_neg_log_mse"] = float(rho)
    folds = {f"epoch {e}": f for e, f in result.folds["run"].items()}
    if analysis.double_descent and analysis.maxima:
        bump = analysis.maxima[0]
        before = trained[trained["epoch"] <= bump]
        after = trained[trained["epoch"] > bump]
        if not before.empty and not after.empty:
            a = f"epoch {int(after.loc[after['q_bar'].idxmax(), 'epoch'])}"
            b = f"epoch {int(before.loc[before['q_bar'].idxmax(), 'epoch'])}"
            out["q_after_vs_before_bump"] = _compare(folds, a, b)
    last = int(curve["epoch"].iloc[-1])
    if last in result.folds["twin"]:
        pair = {
            "stepped run": result.folds["run"][last],
            "constant twin": result.folds["twin"][last],
        }
        out["run_vs_twin_at_end"] = _compare(pair, "stepped run", "constant twin")
    return out


def _descents_sentence(summary: Mapping[str, Any]) -> str:
    d = summary["descents"]
    if not summary["double_descent"]:
        return (
            f"Validation MSE does not descend twice ({summary['n_descents']} descent(s) "
            "found): no double descent at this scale."
        )
    text = (
        f"Validation MSE descends {summary['n_descents']} times: down to epoch {d[0]['end']:.0f}, "
        f"up to a bump near epoch {summary['bumps'][0]:.0f}, down again to epoch "
        f"{d[1]['end']:.0f}."
    )
    second = d[1]
    if second["coincides"] and not summary["twin_double_descent"]:
        return text + (
            " The second descent starts at a learning-rate drop (epoch "
            f"{', '.join(f'{e:.0f}' for e in second['rate_drops'])}) and the "
            "constant-rate twin does not descend again: the drop explains it, so it "
            "is no evidence of double descent."
        )
    if summary["twin_double_descent"]:
        return (
            text + " The constant-rate twin descends twice too: the rate drops do not explain it."
        )
    return text + " It does not coincide with a rate drop."


def format_long_summary(summary: Mapping[str, Any]) -> str:
    """Sentences stating what the long run supports, with its numbers and intervals."""
    lines = [_descents_sentence(summary)]
    lines.append(
        f"Best Q̄ = {summary['best_q_bar']:.2f} at epoch {summary['best_q_epoch']}; final Q̄ = "
        f"{summary['final_q_bar']:.2f}; lowest val MSE {summary['min_val_mse']:.4g} at epoch "
        f"{summary['min_val_mse_epoch']}."
    )
    if "spearman_q_vs_neg_log_mse" in summary:
        rho = summary["spearman_q_vs_neg_log_mse"]
        lines.append(f"Spearman correlation of Q̄ with -log MSE over checkpoints: {rho:+.2f}.")
    if "q_after_vs_before_bump" in summary:
        c = summary["q_after_vs_before_bump"]
        follows = c["comparison"]["verdict"] == "A > B"
        lines.append(f"Q̄ after the bump against before it: {c['text']}.")
        lines.append(
            "Q̄ follows the second descent."
            if follows
            else "Q̄ does not follow the second descent (the paper's observation)."
        )
    if "run_vs_twin_at_end" in summary:
        lines.append(
            f"At the last epoch, the stepped run against the constant-rate twin: "
            f"{summary['run_vs_twin_at_end']['text']}."
        )
    return "\n".join(lines)
