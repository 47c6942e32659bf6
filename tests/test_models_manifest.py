"""What the store manifest learns from the registry: the recipe (res, patch-embedding variant) and
the weights identity, including a checkpoint the published preset leaves unused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from e2s_utils import extract as E
from e2s_utils import store as S
from e2s_utils.data import synthetic
from e2s_utils.models import CheckpointNotLoadedWarning, get_spec


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.generate(tmp_path_factory.mktemp("synth") / "data", n=2, seed=5, workers=1)


def _config(data: Path, out: Path, model: str, preset: str, **kw: object) -> dict:
    E.extract(model, preset, "micro", data, out, progress=False, batch_size=2, **kw)  # type: ignore[arg-type]
    return S.EmbeddingStore(S.store_path(out, model, preset, "micro")).config


def test_manifest_records_res_and_patch_embed_variant(data_root: Path, tmp_path: Path) -> None:
    cfg = _config(data_root, tmp_path, "scalemae", "as_intended")
    assert cfg["recipe"]["res"] == get_spec("scalemae").recipe("as_intended").res == 1.0
    cfg = _config(data_root, tmp_path, "dofa", "as_published_code")
    assert cfg["recipe"]["patch_embed_variant"] == "hub"
    assert cfg["recipe"]["res"] is None


def test_manifest_says_a_present_checkpoint_was_not_loaded(data_root: Path, tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    torch.save({"model": {}}, weights / "Prithvi_EO_V2_600M.pt")
    with pytest.warns(CheckpointNotLoadedWarning, match="Prithvi_EO_V2_600M.pt"):
        cfg = _config(data_root, tmp_path, "prithvi", "as_published_code", weights_dir=weights)
    assert cfg["weights_identity"] == (
        "random init, seed 0 (as_published_code: Prithvi_EO_V2_600M.pt present but not "
        "loaded, as the published code ran)"
    )
