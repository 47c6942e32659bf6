"""What an evaluation returns: per-task scores with every fold score, and their Q̄.

:class:`EvalResult` serialises to a JSON-able dict (:meth:`EvalResult.to_dict`, NaN as null) that
the cache stores, and to the benchmark's per-run files (``summary.json`` and ``tasks.csv``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from e2s_utils.io import atomic_write_json, atomic_write_text, finite_or_none, nan_if_none

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class TaskResult:
    """One task's score.

    Attributes:
        name: task name.
        kind: ``regression`` or ``classification``.
        n: number of samples (ids in both labels and embeddings).
        mean: mean fold score (NaN folds ignored).
        std: population std of the fold scores (NaN folds ignored).
        q: ``2 * mean / (0.02 + std)``.
        folds: the K fold scores (best epoch-end test R² or F1; the ridge fit's test score).
    """

    name: str
    kind: str
    n: int
    mean: float
    std: float
    q: float
    folds: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (NaN as null)."""
        return {
            "q": finite_or_none(self.q),
            "mean": finite_or_none(self.mean),
            "std": finite_or_none(self.std),
            "n": int(self.n),
            "kind": self.kind,
            "folds": [finite_or_none(v) for v in self.folds],
        }

    @classmethod
    def from_dict(cls, name: str, entry: dict[str, Any]) -> TaskResult:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=name,
            kind=entry.get("kind", ""),
            n=int(entry.get("n", 0)),
            mean=nan_if_none(entry["mean"]),
            std=nan_if_none(entry["std"]),
            q=nan_if_none(entry["q"]),
            folds=np.array([nan_if_none(v) for v in entry.get("folds", [])], dtype=np.float64),
        )


@dataclass
class EvalResult:
    """Scores of one embedding matrix on a set of tasks.

    Attributes:
        probe: ``linear`` (the benchmark's probe) or ``ridge`` (the converged probe).
        q_bar: mean of the task Q over the non-empty tasks.
        tasks: per-task results, by name.
        config: the protocol (name and every value) and the input's size that produced it.
    """

    probe: str
    q_bar: float
    tasks: dict[str, TaskResult]
    config: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per task (index ``task``): kind, n, mean, std, q, probe."""
        import pandas as pd

        rows = [
            {"task": t.name, "kind": t.kind, "n": t.n, "mean": t.mean, "std": t.std, "q": t.q}
            for t in self.tasks.values()
        ]
        frame = pd.DataFrame(rows, columns=["task", "kind", "n", "mean", "std", "q"])
        frame["probe"] = self.probe
        return frame.set_index("task")

    def folds_frame(self) -> pd.DataFrame:
        """Every fold score in long form: columns ``task``, ``fold``, ``score``."""
        import pandas as pd

        rows = [(t.name, k, float(v)) for t in self.tasks.values() for k, v in enumerate(t.folds)]
        return pd.DataFrame(rows, columns=["task", "fold", "score"])

    def fold_scores(self) -> dict[str, np.ndarray]:
        """``task -> (K,)`` fold scores of the tasks that were scored (the statistics' input)."""
        return {t.name: np.asarray(t.folds, dtype=float) for t in self.tasks.values() if t.n > 0}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: ``q_bar``, ``probe``, ``config`` and per task its scores and folds."""
        return {
            "q_bar": finite_or_none(self.q_bar),
            "probe": self.probe,
            "config": self.config,
            "tasks": {t.name: t.to_dict() for t in self.tasks.values()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalResult:
        """Inverse of :meth:`to_dict`."""
        tasks = {name: TaskResult.from_dict(name, e) for name, e in data["tasks"].items()}
        return cls(data["probe"], nan_if_none(data["q_bar"]), tasks, data.get("config", {}))

    def save(self, out_dir: Path) -> None:
        """Write ``summary.json`` (:meth:`to_dict`) and ``tasks.csv`` into ``out_dir``."""
        out_dir = Path(out_dir)
        atomic_write_json(out_dir / "summary.json", self.to_dict(), indent=2)
        atomic_write_text(out_dir / "tasks.csv", self.tasks_csv())

    def tasks_csv(self) -> str:
        """``tasks.csv``: one row per task, ``task,kind,n,mean,std,q,probe`` (floats ``%.10g``,
        NaN as an empty cell, as pandas writes it)."""

        def cell(v: float) -> str:
            return "" if np.isnan(v) else f"{v:.10g}"

        lines = ["task,kind,n,mean,std,q,probe"]
        for t in self.tasks.values():
            values = ",".join(cell(float(v)) for v in (t.mean, t.std, t.q))
            lines.append(f"{t.name},{t.kind},{t.n},{values},{self.probe}")
        return "\n".join(lines) + "\n"

    def summary_text(self) -> str:
        """The per-task table as plain text (what ``e2s evaluate`` prints)."""
        head = f"{'task':<24} {'kind':<14} {'n':>6} {'mean':>8} {'std':>8} {'q':>8}"
        rows = [head]
        for t in self.tasks.values():
            rows.append(
                f"{t.name:<24} {t.kind:<14} {t.n:>6} {t.mean:>8.3f} {t.std:>8.3f} {t.q:>8.3f}"
            )
        return "\n".join(rows)

    @classmethod
    def load(cls, out_dir: Path) -> EvalResult:
        """Read a result written by :meth:`save`.

        Raises:
            FileNotFoundError: when ``out_dir`` holds no ``summary.json``.
        """
        path = Path(out_dir) / "summary.json"
        if not path.is_file():
            raise FileNotFoundError(f"no evaluation summary at {path}; run the evaluation first")
        return cls.from_dict(json.loads(path.read_text()))
