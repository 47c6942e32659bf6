"""``evaluate_many``: several matrices probed together give each its separate result (to float
rounding: batched matrix products may sum in another order)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from e2s_utils.data.labels import LabelTask
from e2s_utils.evaluate import evaluate, evaluate_many


def _tasks(ids: list[str], rng: np.random.Generator) -> dict[str, LabelTask]:
    out = {}
    for name, frac, kind in [
        ("a", 0.5, "regression"),
        ("b", 0.5, "regression"),
        ("c", 0.8, "classification"),
    ]:
        keep = rng.random(len(ids)) < frac
        y = rng.random(keep.sum())
        if kind == "classification":
            y = (y > 0.5).astype(float)
        index = pd.Index(np.array(ids)[keep], name="id")
        out[name] = LabelTask(name, kind, pd.Series(y, index=index, name=name))
    out["b"] = LabelTask("b", "regression", out["a"].labels.rename("b") * 2 + 1)  # same rows
    return out


@pytest.mark.parametrize("stream", ["exact", "per_fold"])
@pytest.mark.parametrize("n", [60, 400])  # the dense and the gather computation
def test_many_equals_separate(stream: str, n: int) -> None:
    rng = np.random.default_rng(n)
    ids = [f"{i:040x}" for i in range(n)]
    tasks = _tasks(ids, rng)
    mats = {f"m{i}": rng.standard_normal((n, 12)).astype(np.float32) * (i + 1) for i in range(3)}
    mats["narrow"] = rng.standard_normal((n, 5)).astype(np.float32)
    kw = {"protocol": "paper", "k_folds": 4, "epochs": 3, "random_stream": stream}
    many = evaluate_many(ids, mats, tasks, **kw)
    assert list(many) == list(mats)
    for key, X in mats.items():
        alone = evaluate(ids, X, tasks, **kw)
        for t in tasks:
            np.testing.assert_allclose(many[key].tasks[t].folds, alone.tasks[t].folds, rtol=1e-5)
        assert many[key].q_bar == pytest.approx(alone.q_bar, rel=1e-5, nan_ok=True)
    assert many["m0"].tasks["a"].q != many["m1"].tasks["a"].q  # each matrix its own numbers
