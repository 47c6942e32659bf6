"""The paper's own numbers and names: its Table 1, its no-dropout result, its fusion order.

These are facts about the paper (SPEC section 4), kept apart from every computation so that a table
can be compared with them but never computed from them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

#: The order in which the paper grows its fusion (Table 1): DOFA + CROMA, then + Copernicus-FM,
#: + Prithvi, + Scale-MAE (all five).
FUSION_ORDER: tuple[str, ...] = ("dofa", "croma", "copernicusfm", "prithvi", "scalemae")

#: The paper's all-five Q̄ without dropout (section 2 of its text), against 17.43 with dropout.
PAPER_NO_DROPOUT_Q_BAR = 16.45

#: The paper's Table 1 (NeuCo-Bench defaults: K = 40, 20 epochs, all tasks): Q̄, Z, val MSE.
_TABLE1: tuple[tuple[str, float, float, float], ...] = (
    ("Copernicus-FM", 10.82, -0.65, 0.004),
    ("CROMA", 11.51, -0.49, 0.001),
    ("DOFA", 11.61, -0.43, 0.008),
    ("Prithvi-EO-2.0", 9.71, -0.14, 0.843),
    ("Scale-MAE", 9.48, -0.39, 0.617),
    ("DOFA + CROMA", 16.10, 0.05, 0.013),
    ("DOFA + CROMA + Copernicus-FM", 17.23, 0.52, 0.023),
    ("DOFA + CROMA + Copernicus-FM + Prithvi", 18.15, 0.67, 1.139),
    ("All five", 17.43, 0.87, 1.953),
)


def paper_table1() -> pd.DataFrame:
    """The paper's Table 1 for reference: ``method``, ``Q̄``, ``Z``, ``val MSE``."""
    return pd.DataFrame(list(_TABLE1), columns=["method", "Q̄", "Z", "val MSE"])


def display_name(models: Sequence[str]) -> str:
    """``DOFA + CROMA`` style label of a model combination (``All five`` for the paper's five).

    The registry's :func:`~e2s_utils.models.catalog.combination_label`: a model alone is its
    ``display_name``, inside a combination its ``short_name`` (``Prithvi`` for Prithvi-EO-2.0).
    """
    from e2s_utils.models.catalog import combination_label

    return combination_label(list(models))
