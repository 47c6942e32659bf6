"""The README's registry block is computed from the registry and is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2s_utils import config, footprint, paths
from e2s_utils.fusion import FusionCompressor
from e2s_utils.models import catalog, get_spec


def test_the_readme_block_is_current() -> None:
    text = (paths.REPO_ROOT / "README.md").read_text()
    block = text.split(footprint.START, 1)[1].split(footprint.END, 1)[0]
    assert block.strip() == footprint.registry_markdown().strip(), (
        "README's registry block is stale: run "
        "`python -c 'from e2s_utils import footprint; footprint.update_readme()'`"
    )


def test_the_block_shows_every_paper_model_and_preset() -> None:
    table = footprint.models_table("full")
    assert len(table) == 2 * len(catalog.paper_models())
    prithvi = table[(table["model"] == "Prithvi-EO-2.0") & (table["preset"] == "as_intended")]
    assert prithvi["checkpoint"].item() == "Prithvi_EO_V2_600M.pt"
    assert prithvi["embedding (C, T)"].item() == "(2560, 1)"
    random_init = table[table["checkpoint"].str.startswith("none")]
    assert set(random_init["model"]) == {"Prithvi-EO-2.0", "Scale-MAE"}
    assert set(random_init["preset"]) == {"as_published_code"}
    widths = table.groupby("preset")["floats per sample"].sum().to_dict()
    assert widths == {"as_intended": 24_064, "as_published_code": 20_992}


def test_compressor_size_counts_the_real_network() -> None:
    models = ("dofa", "croma")
    shapes = {m: get_spec(m).output_shape("as_intended", "micro") for m in models}
    real = sum(p.numel() for p in FusionCompressor(shapes).parameters())
    assert footprint.compressor_params(models, "as_intended", "micro") == real


def test_disk_estimate_adds_up() -> None:
    full = config.get_profile("full")
    disk = footprint.disk_estimate(full)
    params = footprint.compressor_params(full.fusion.models, "as_intended", "full")
    assert disk.compressor_snapshot_mb == pytest.approx(params * 4 / 1e6)
    # both presets' five stores at least, at 13,260 float32 rows
    both = (24_064 + 20_992) * footprint.REAL_SAMPLES * 4 / 1e9
    assert disk.stores >= both
    assert disk.total == pytest.approx(disk.stores + disk.snapshots + disk.embeddings + disk.resume)


def test_the_profiles_block_is_current_and_names_each_stage() -> None:
    text = (paths.REPO_ROOT / "README.md").read_text()
    block = text.split(footprint.PROFILES_START, 1)[1].split(footprint.PROFILES_END, 1)[0]
    assert block.strip() == footprint.profiles_markdown().strip()
    demo = config.get_profile("demo")
    row = next(ln for ln in block.splitlines() if ln.startswith("| `demo`"))
    assert f"{demo.data.n_samples} synthetic" in row and demo.protocol.label() in row
    assert f"{demo.fusion.epochs} epochs" in row and "as_published_code and as_intended" in row


def test_update_readme_needs_its_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    blocks = f"{footprint.PROFILES_START}\nold\n{footprint.PROFILES_END}\n"
    readme.write_text(f"a\n{footprint.START}\nold\n{footprint.END}\n{blocks}b\n")
    assert footprint.update_readme(readme) and not footprint.update_readme(readme)
    assert readme.read_text().startswith("a\n") and readme.read_text().endswith("\nb\n")
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        footprint.update_readme(readme)
