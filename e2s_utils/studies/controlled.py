"""The controlled study: when and why fusing embeddings helps, on blocks whose content is known.

The simulator (:mod:`e2s_utils.data.simulator`) builds embedding blocks that carry chosen scene
factors, so every answer is known by construction. The blocks are written as embedding stores
(:func:`~e2s_utils.store.simulated.write_simulation`) and go through the project's own compressor
(:func:`e2s_utils.fusion.train`) and evaluator (:func:`e2s_utils.evaluate.evaluate_many`, the
linear probe of the protocol and the converged ridge probe). Four experiments (the plan of
``benchmarks/results/simulator_costs.md``):

* **E1 diversity against width**: complementary blocks (one task group each) against overlapping
  ones (every group in every block, same shapes, about the same information) and the
  complementary set with its vegetation block twice (more width, no information);
* **E2 MSE against Q̄**: the complementary set plus a task-free block of high variance (a randomly
  initialised network's stand-in) under several loss weights, probed at several checkpoints;
* **E3 long training**: the nuisance set on a few samples, many epochs, at a stepped learning rate
  and at a constant one (forked before the first drop, as in notebook 50), per training-set size;
* **E4 the probe**: the ``access`` blocks (same information narrow and wide, or behind a
  nonlinearity) probed with the protocol's linear probe, a shorter one and the ridge probe.

Every unit (one compressor run and its probes, or one probe of the E4 blocks) is cached
(:mod:`e2s_utils.cache`, kind ``controlled``) under its settings, the simulation's identity and
the protocol, so a rerun loads it and a killed run resumes. Statistics and wording live in
:mod:`~e2s_utils.studies.controlled_stats`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from e2s_utils.cache import CacheKey, read_result, write_result
from e2s_utils.data import simulator as sim
from e2s_utils.io import atomic_write_json, config_hash, finite_or_none

if TYPE_CHECKING:
    from e2s_utils.config import ControlledConfig, Profile
    from e2s_utils.data.labels import LabelTask
    from e2s_utils.evaluate import EvalResult, Protocol
    from e2s_utils.store.loader import FusionData

#: Store preset and size names of the simulated blocks.
STORE_PRESET, STORE_SIZE = "controlled", "sim"
COMPLEMENTARY: tuple[str, ...] = ("veg", "agri", "heat", "atmo")
OVERLAPPING: tuple[str, ...] = ("ov1", "ov2", "ov3", "ov4")
DUPLICATED: tuple[str, ...] = (*COMPLEMENTARY, "veg_copy")
NUISANCE: tuple[str, ...] = (*COMPLEMENTARY, "randvit")


def block_specs(cfg: ControlledConfig) -> dict[str, sim.BlockSpec]:
    """Every simulated block the study reads: four presets at ``width``, ``access`` blocks."""
    specs = {
        b.name: b
        for name in ("complementary", "overlapping", "duplicated", "nuisance")
        for b in sim.preset(name, width=cfg.width)
    }
    access = {b.name: b for b in sim.preset("access", width=cfg.access_width)}
    unknown = [b for b in cfg.access_blocks if b not in access]
    if unknown:
        raise ValueError(f"access_blocks {unknown} are not blocks of the access preset {access}")
    return specs | {b: access[b] for b in cfg.access_blocks}


class ControlledData:
    """The simulation on disk (written once, under a folder named by its identity) and its reads.

    Ids and the dev/eval split are known without simulating; :meth:`ensure` simulates and writes
    the stores and label files only when they are missing, so a cached rerun never simulates.
    """

    def __init__(self, cfg: ControlledConfig, root: Path) -> None:
        from e2s_utils.data.reader import is_dev_id

        self.cfg, self.specs = cfg, block_specs(cfg)
        self.identity: dict[str, Any] = {
            "simulator": sim.SIMULATOR_VERSION,
            "n": cfg.n,
            "seed": cfg.seed,
            "blocks": {n: s.to_dict() for n, s in self.specs.items()},
        }
        self.folder = Path(root) / f"sim__{config_hash(self.identity)[:12]}"
        ids = sim.make_sim_ids(cfg.n, cfg.seed)
        self.eval_ids = [i for i in ids if not is_dev_id(i)]
        self.dev_ids = [i for i in ids if is_dev_id(i)]
        self._tasks: dict[str, LabelTask] | None = None
        self._arrays: dict[str, tuple[list[str], np.ndarray]] = {}

    @property
    def marker(self) -> Path:
        """Written last: the simulation is complete."""
        return self.folder / "complete.json"

    def ensure(self) -> None:
        """Simulate and write every block and the label files, unless already written."""
        if self.marker.is_file():
            return
        from e2s_utils.store.simulated import write_simulation

        s = sim.simulate(list(self.specs.values()), self.cfg.n, self.cfg.seed)
        write_simulation(s, self.folder, STORE_PRESET, STORE_SIZE)
        atomic_write_json(self.marker, self.identity)

    def tasks(self) -> dict[str, LabelTask]:
        """The eleven tasks restricted to the probed (eval) ids."""
        if self._tasks is None:
            from e2s_utils.data.labels import load_tasks
            from e2s_utils.store.loader import restrict_tasks

            self.ensure()
            self._tasks = restrict_tasks(load_tasks(self.folder / "labels"), self.eval_ids)
        return self._tasks

    def block(self, name: str, ids: Sequence[str]) -> np.ndarray:
        """One block's ``(len(ids), C, T)`` float32 rows."""
        from e2s_utils.store.layout import store_path
        from e2s_utils.store.shards import EmbeddingStore

        if name not in self._arrays:
            self.ensure()
            store = EmbeddingStore(store_path(self.folder, name, STORE_PRESET, STORE_SIZE))
            self._arrays[name] = store.read()
        all_ids, array = self._arrays[name]
        pos = {i: k for k, i in enumerate(all_ids)}
        return array[[pos[i] for i in ids]]

    def fusion(self, blocks: Sequence[str], ids: Sequence[str]) -> FusionData:
        """The compressor's view of some blocks for some ids."""
        from e2s_utils.store.loader import FusionData

        return FusionData(list(ids), {b: self.block(b, ids) for b in blocks})


@dataclass(frozen=True)
class CompressorUnit:
    """One compressor run (E1, E2) and the checkpoints it probes.

    Attributes:
        name: unique slug (file names); ``e1-...`` or ``e2-...``.
        blocks: the fused blocks.
        weights: per-block loss weights other than 1.
        train_n: eval ids trained on (the first ones).
        epochs: training epochs.
        linear_epochs: checkpoints probed with the linear probe.
        ridge_epochs: checkpoints probed with the ridge probe.
    """

    name: str
    blocks: tuple[str, ...]
    weights: tuple[tuple[str, float], ...] = ()
    train_n: int = 2048
    epochs: int = 6
    linear_epochs: tuple[int, ...] = ()
    ridge_epochs: tuple[int, ...] = ()


@dataclass(frozen=True)
class LongUnit:
    """One long run (E3) at a stepped rate and its constant-rate twin, on ``train_n`` eval ids.

    Each is probed (linear) at its lowest validation MSE and at its last epoch.
    """

    name: str
    blocks: tuple[str, ...]
    train_n: int
    epochs: int
    lr: float
    n_checkpoints: int


@dataclass(frozen=True)
class ProbeUnit:
    """The E4 blocks probed directly with one probe (``epochs``: the linear probe's, or None)."""

    name: str
    blocks: tuple[str, ...]
    probe: str
    epochs: int | None = None


Unit = CompressorUnit | LongUnit | ProbeUnit


def controlled_units(cfg: ControlledConfig) -> list[Unit]:
    """The declarative list of the study's units for a configuration (see the module docstring)."""
    last = cfg.epochs
    marks = tuple(sorted({int(e) for e in cfg.mse_epochs if 0 < e < last}))
    final = (last,)

    def run(name: str, blocks: tuple[str, ...], **kw: Any) -> CompressorUnit:
        return CompressorUnit(name, blocks, train_n=cfg.train_n, epochs=last, **kw)

    units: list[Unit] = [
        run("e1-complementary", COMPLEMENTARY, linear_epochs=(*marks, last), ridge_epochs=final),
        run("e1-overlapping", OVERLAPPING, linear_epochs=final, ridge_epochs=final),
        run("e1-duplicated", DUPLICATED, linear_epochs=final, ridge_epochs=final),
    ]
    units += [
        run(
            f"e2-nuisance-w{w:g}",
            NUISANCE,
            weights=(("randvit", float(w)),),
            linear_epochs=(*marks, last),
        )
        for w in cfg.nuisance_weights
    ]
    units += [
        LongUnit(f"e3-long-n{n}", NUISANCE, n, cfg.long_epochs, cfg.long_lr, cfg.long_n_checkpoints)
        for n in cfg.long_train_n
    ]
    blocks = tuple(cfg.access_blocks)
    units += [
        ProbeUnit("e4-linear", blocks, "linear"),
        ProbeUnit("e4-linear-short", blocks, "linear", cfg.short_epochs),
        ProbeUnit("e4-ridge", blocks, "ridge"),
    ]
    return units


# ------------------------------------------------------------------------------------------------
# computing one unit
# ------------------------------------------------------------------------------------------------
def record(result: EvalResult, **extra: Any) -> dict[str, Any]:
    """One evaluation's numbers: Q̄, per-task Q and fold scores (NaN as None), plus ``extra``."""
    return {
        **extra,
        "q_bar": finite_or_none(result.q_bar),
        "q": {t: finite_or_none(r.q) for t, r in result.tasks.items()},
        "folds": {t: [finite_or_none(v) for v in r.folds] for t, r in result.tasks.items()},
    }


def _history(frame: pd.DataFrame) -> dict[str, list[Any]]:
    cols = [c for c in frame.columns if c == "epoch" or c == "lr" or c.startswith("val_mse")]
    return {c: [finite_or_none(v) for v in frame[c]] for c in cols}


class _Context:
    """What a unit's computation reads: the configuration, data, protocol, folders, device."""

    def __init__(
        self, cfg: ControlledConfig, data: ControlledData, protocol: Protocol, device: str
    ) -> None:
        self.cfg, self.data, self.protocol, self.device = cfg, data, protocol, device

    def fusion_config(self, unit: CompressorUnit | LongUnit, **kw: Any) -> Any:
        from e2s_utils.fusion import FusionConfig

        weights = dict(getattr(unit, "weights", ()))
        return FusionConfig(
            models=unit.blocks,
            loss_weights={b: weights.get(b, 1.0) for b in unit.blocks},
            hidden=self.cfg.hidden,
            out_dim=self.cfg.out_dim,
            epochs=unit.epochs,
            seed=self.cfg.seed,
            **kw,
        )

    def splits(self, unit: CompressorUnit | LongUnit) -> tuple[FusionData, FusionData, FusionData]:
        d = self.data
        return (
            d.fusion(unit.blocks, d.eval_ids[: unit.train_n]),
            d.fusion(unit.blocks, d.dev_ids[: self.cfg.val_n]),
            d.fusion(unit.blocks, d.eval_ids),
        )

    def probe(
        self, matrices: dict[str, np.ndarray], probe: str, epochs: int | None = None
    ) -> dict[str, EvalResult]:
        from e2s_utils.evaluate import evaluate_many

        over: dict[str, Any] = {} if epochs is None else {"epochs": epochs}
        return evaluate_many(
            self.data.eval_ids,
            matrices,
            self.data.tasks(),
            protocol=self.protocol,
            probe=probe,  # type: ignore[arg-type]
            device=self.device,
            num_threads=self.cfg.threads,
            **over,
        )


def _probe_checkpoints(
    ctx: _Context,
    run_dir: Path,
    probe_data: FusionData,
    wanted: Sequence[tuple[str, int, str]],
    mse: dict[int, float],
) -> dict[str, dict[str, Any]]:
    """Probe ``(probe, epoch, checkpoint file)`` entries; keys ``<probe>@<epoch>``."""
    from e2s_utils import fusion

    out = {}
    for probe in ("linear", "ridge"):
        chosen = [(e, f) for p, e, f in wanted if p == probe]
        mats = {
            f"{probe}@{e}": fusion.checkpoint_embeddings(run_dir, f, e, probe_data, ctx.device)
            for e, f in chosen
        }
        if mats:
            for key, res in ctx.probe(mats, probe).items():
                epoch = int(key.split("@")[1])
                out[key] = record(res, probe=probe, epoch=epoch, val_mse=mse.get(epoch))
    return out


def _compressor_unit(ctx: _Context, unit: CompressorUnit, run_dir: Path) -> dict[str, Any]:
    from e2s_utils import fusion
    from e2s_utils.fusion import checkpoints as ck

    train, val, probe = ctx.splits(unit)
    marks = (*unit.linear_epochs, *unit.ridge_epochs)
    cfg = ctx.fusion_config(unit, checkpoint_epochs=marks)
    history = fusion.train(cfg, train, val, run_dir, device=ctx.device, progress=False)
    mse = dict(zip(history["epoch"].astype(int), history["val_mse"], strict=True))
    wanted = [("linear", e, ck.checkpoint_path(Path(), e).as_posix()) for e in unit.linear_epochs]
    wanted += [("ridge", e, ck.checkpoint_path(Path(), e).as_posix()) for e in unit.ridge_epochs]
    evals = _probe_checkpoints(ctx, run_dir, probe, wanted, mse)
    return {"history": _history(history), "evals": evals}


def _long_unit(ctx: _Context, unit: LongUnit, run_dir: Path) -> dict[str, Any]:
    """The stepped run, its constant twin forked before the first drop, both probed twice."""
    from e2s_utils.fusion import checkpoints as ck
    from e2s_utils.studies.long_training import train_with_twin, twin_configs

    train, val, probe = ctx.splits(unit)
    steps = train.n // ctx.fusion_config(unit).batch_size
    base = ctx.fusion_config(unit, lr=unit.lr, dropout=0.0)
    stepped, constant, fork = twin_configs(base, unit.n_checkpoints, steps)
    dirs = {"stepped": run_dir / "stepped", "constant": run_dir / "constant"}
    runs = train_with_twin(
        stepped,
        constant,
        fork,
        train,
        val,
        {"run": dirs["stepped"], "twin": dirs["constant"]},
        device=ctx.device,
        progress=False,
    )
    hist = dict(zip(("stepped", "constant"), runs, strict=True))
    out: dict[str, Any] = {"fork_epoch": fork, "drops": stepped.milestone_epochs()}
    for role, frame in hist.items():
        mse = dict(zip(frame["epoch"].astype(int), frame["val_mse"], strict=True))
        best = int(ck.load_checkpoint(dirs[role] / ck.BEST_VAL)["epoch"])
        wanted = [("linear", best, ck.BEST_VAL)]
        if best != unit.epochs:
            wanted.append(
                ("linear", unit.epochs, ck.checkpoint_path(Path(), unit.epochs).as_posix())
            )
        evals = _probe_checkpoints(ctx, dirs[role], probe, wanted, mse)
        out[role] = {"history": _history(frame), "best_mse_epoch": best, "evals": evals}
    return out


def _probe_unit(ctx: _Context, unit: ProbeUnit) -> dict[str, Any]:
    from e2s_utils.store.loader import flatten

    d = ctx.data
    mats = {b: flatten([d.block(b, d.eval_ids)]) for b in unit.blocks}
    results = ctx.probe(mats, unit.probe, unit.epochs)
    epochs = unit.epochs if unit.epochs is not None else ctx.protocol.epochs
    return {
        "evals": {
            b: record(r, probe=unit.probe, probe_epochs=epochs if unit.probe == "linear" else None)
            for b, r in results.items()
        }
    }


def unit_key(unit: Unit, ctx: _Context) -> CacheKey:
    """The cache key of one unit: its settings, the compressor's, the simulation, the protocol."""
    cfg = ctx.cfg
    config: dict[str, Any] = {
        "unit": {"type": type(unit).__name__, **dataclasses.asdict(unit)},
        "simulation": ctx.data.identity,
        "protocol": ctx.protocol.to_dict(),
    }
    if not isinstance(unit, ProbeUnit):
        config["compressor"] = {"hidden": cfg.hidden, "out_dim": cfg.out_dim, "val_n": cfg.val_n}
    return CacheKey("controlled", config)


def _result_path(unit: Unit, ctx: _Context, root: Path) -> tuple[Path, CacheKey]:
    """Where a unit's cached result lives, and its key."""
    key = unit_key(unit, ctx)
    return Path(root) / "results" / f"{unit.name}__{key.short()}.json", key


def run_unit(
    unit: Unit, ctx: _Context, root: Path, on_compute: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Compute (or load from the cache) one unit; a compressor's snapshots are deleted after.

    ``on_compute`` is called with the unit's name when it is not cached (tests count them).
    """
    import shutil

    path, key = _result_path(unit, ctx, root)
    cached = read_result(path, key)
    if cached is not None:
        return dict(cached)
    if on_compute is not None:
        on_compute(unit.name)
    run_dir = Path(root) / "runs" / path.stem
    result: dict[str, Any]
    if isinstance(unit, CompressorUnit):
        result = _compressor_unit(ctx, unit, run_dir)
    elif isinstance(unit, LongUnit):
        result = _long_unit(ctx, unit, run_dir)
    else:
        result = _probe_unit(ctx, unit)
    write_result(path, key, result)
    shutil.rmtree(run_dir, ignore_errors=True)  # every number is in the cached result
    return result


@dataclass
class ControlledResult:
    """Every unit's result.

    Attributes:
        units: the units, in order.
        results: unit name -> its cached result.
        n_probe: probed samples (the simulation's eval split).
        n: simulated samples.
        tasks: the task names.
    """

    units: list[Unit]
    results: dict[str, dict[str, Any]]
    n_probe: int
    n: int
    tasks: list[str]


def run_controlled(
    profile: Profile,
    root: Path,
    *,
    device: str = "cpu",
    progress: bool = True,
    on_unit: Callable[[str], None] | None = None,
) -> ControlledResult:
    """Run (or resume, or load) every unit of the controlled study.

    Args:
        profile: the profile (its ``controlled`` configuration and protocol).
        root: the study's folder (``<out_dir>/controlled``): simulation, cached results, runs.
        device: torch device of training and probing.
        progress: show a progress bar over the units.
        on_unit: called with the name of each unit computed, not loaded (tests count them).
    """
    from tqdm.auto import tqdm

    from e2s_utils.evaluate.core import torch_threads

    cfg = profile.controlled
    data = ControlledData(cfg, Path(root))
    ctx = _Context(cfg, data, profile.protocol, device)
    units = controlled_units(cfg)
    if profile.workers > 1 and device == "cpu":
        _compute_side_by_side(units, ctx, profile, Path(root), on_unit, progress)
    results = {}
    bar = tqdm(units, desc="controlled", unit="unit", disable=not progress or profile.workers > 1)
    with torch_threads(cfg.threads):
        for unit in bar:
            bar.set_postfix_str(unit.name)
            results[unit.name] = run_unit(unit, ctx, Path(root), on_unit)
    first = next(iter(results.values()))
    tasks = sorted(next(iter(first["evals"].values()))["q"]) if "evals" in first else []
    return ControlledResult(units, results, len(data.eval_ids), cfg.n, tasks)


# ------------------------------------------------------------------------------------------------
# units side by side (:mod:`e2s_utils.studies.side_by_side`)
# ------------------------------------------------------------------------------------------------
#: What a worker process computes units with (set once per process by :func:`_start_worker`).
_WORKER: dict[str, Any] = {}


def _start_worker(profile: Profile, root: Path, device: str) -> None:
    cfg = profile.controlled
    ctx = _Context(cfg, ControlledData(cfg, root), profile.protocol, device)
    _WORKER.update(ctx=ctx, root=root)


def _unit_in_worker(unit: Unit) -> str:
    run_unit(unit, _WORKER["ctx"], _WORKER["root"])
    return unit.name


def _compute_side_by_side(
    units: Sequence[Unit],
    ctx: _Context,
    profile: Profile,
    root: Path,
    on_unit: Callable[[str], None] | None,
    progress: bool,
) -> None:
    """Compute the units missing from the cache in ``profile.workers`` processes, the long runs
    first and the probes of fixed blocks last; the simulation is written once before."""
    from e2s_utils.studies.side_by_side import compute_side_by_side

    missing = [u for u in units if read_result(*_result_path(u, ctx, root)) is None]
    if len(missing) < 2:
        return
    ctx.data.ensure()
    order = {LongUnit: 0, CompressorUnit: 1, ProbeUnit: 2}
    missing.sort(key=lambda u: order[type(u)])
    for unit in missing:
        if on_unit is not None:
            on_unit(unit.name)
    compute_side_by_side(
        _unit_in_worker,
        [(u,) for u in missing],
        workers=profile.workers,
        init=_start_worker,
        initargs=(profile, root, ctx.device),
        desc="controlled",
        progress=progress,
    )
