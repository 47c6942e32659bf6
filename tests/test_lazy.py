"""Package names loaded on first use: the right object, and a clear error for a wrong name."""

from __future__ import annotations

import pytest

from e2s_utils import data, evaluate, store
from e2s_utils.lazy import lazy_getattr


def test_lazy_names_resolve_to_their_modules_objects() -> None:
    from e2s_utils.data.dataset import CubeDataset
    from e2s_utils.evaluate.ridge import ridge_folds
    from e2s_utils.store.shards import EmbeddingStore

    assert data.CubeDataset is CubeDataset
    assert evaluate.ridge_folds is ridge_folds
    assert store.EmbeddingStore is EmbeddingStore


def test_an_unknown_name_is_an_attribute_error_naming_the_package() -> None:
    getter = lazy_getattr("e2s_utils.store", {"x": "csv"})
    with pytest.raises(AttributeError, match="'e2s_utils.store' has no attribute 'nope'"):
        getter("nope")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = store.nope  # type: ignore[attr-defined]
