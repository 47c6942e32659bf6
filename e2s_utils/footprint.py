"""What the full study costs on disk, computed from the registry and the profile (never typed).

:func:`registry_markdown` is the README's block between ``<!-- registry:start -->`` and
``<!-- registry:end -->``: every model's checkpoint file, its size, parameters and embedding shape
per preset, the compressor's input width and size per preset, and the disk the ``full`` profile
writes. A test checks that the README's block equals what this module computes now, so a registry
change that the README does not show fails the tests (``e2s reproduce`` also rewrites it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from e2s_utils import paths
from e2s_utils.io import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

    from e2s_utils.config import Profile

START, END = "<!-- registry:start -->", "<!-- registry:end -->"
PROFILES_START, PROFILES_END = "<!-- profiles:start -->", "<!-- profiles:end -->"
#: Samples of SSL4EO-S12-downstream (dev + eval); the probed eval split has about 8,100.
REAL_SAMPLES = 13_260
BYTES_PER_SAMPLE_RAW = 16.2e6  # the three modalities of one cube in their stored dtypes


def compressor_params(models: tuple[str, ...], preset: str, size: str) -> int:
    """Parameters of the compressor for ``models`` (built on the meta device: no memory)."""
    import torch

    from e2s_utils.fusion.model import FusionCompressor
    from e2s_utils.models import get_spec

    shapes = {m: get_spec(m).output_shape(preset, size) for m in models}
    with torch.device("meta"):
        model = FusionCompressor(shapes)
    return sum(p.numel() for p in model.parameters())


def models_table(size: str = "full") -> pd.DataFrame:
    """One row per paper model and preset: checkpoint, its size, parameters, ``(C, T)``, width."""
    import pandas as pd

    from e2s_utils.models import catalog, get_spec

    rows = []
    for name in catalog.paper_models():
        spec = get_spec(name)
        for preset in ("as_intended", "as_published_code"):
            fp = catalog.footprint(name, preset, size)
            c, t = spec.output_shape(preset, size)
            rows.append(
                {
                    "model": spec.display_name,
                    "preset": preset,
                    "checkpoint": fp.checkpoint or "none: randomly initialised",
                    "file (MB)": "" if fp.checkpoint_mb is None else f"{fp.checkpoint_mb:,.0f}",
                    "parameters (M)": "" if fp.params is None else f"{fp.params / 1e6:.1f}",
                    "embedding (C, T)": f"({c}, {t})",
                    "floats per sample": c * t,
                }
            )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class DiskEstimate:
    """What the ``full`` profile writes, in GB, per kind."""

    stores: float
    compressor_snapshot_mb: float
    snapshots: float
    embeddings: float
    resume: float

    @property
    def total(self) -> float:
        return self.stores + self.snapshots + self.embeddings + self.resume


def disk_estimate(profile: Profile) -> DiskEstimate:
    """Disk the ``full`` profile writes after pruning (stores, kept snapshots, kept embeddings).

    Stores: both presets and the initialisation variants of every randomly initialised model, at
    ``REAL_SAMPLES`` float32 rows. Snapshots: three per pruned run (best-Q̄, best-MSE, last) for
    the fusion run, the long run and its twin; the ablation keeps none. Embeddings: every
    evaluated checkpoint's 1024-d float32 embeddings of the probed samples. Resume: one full
    training state (weights, AdamW's two moments) while a run trains.
    """
    from e2s_utils.models import catalog
    from e2s_utils.studies.ablation import ablation_runs, stores_needed
    from e2s_utils.studies.outputs import REAL_PROBED

    size = profile.extract.size
    floats = 0
    for model, preset, _ in stores_needed(ablation_runs(profile), profile):
        floats += catalog.input_width([model], preset, size)
    stores = floats * REAL_SAMPLES * 4 / 1e9
    params = compressor_params(profile.fusion.models, profile.extract.preset, size)
    snap_mb = params * 4 / 1e6
    fusion_ckpts = len(profile.fusion.checkpoint_schedule()) + 1
    long_ckpts = 2 * (profile.long.n_checkpoints + 1)
    out_dim = profile.fusion.out_dim
    embeddings = (fusion_ckpts + long_ckpts) * REAL_PROBED * out_dim * 4 / 1e9
    return DiskEstimate(
        stores=stores,
        compressor_snapshot_mb=snap_mb,
        snapshots=3 * 3 * snap_mb / 1e3,
        embeddings=embeddings,
        resume=3 * snap_mb / 1e3,
    )


def registry_markdown() -> str:
    """The README's registry block: models per preset, compressor sizes, disk of the full run."""
    from e2s_utils import config
    from e2s_utils.models import catalog

    full = config.get_profile("full")
    models = models_table("full")
    lines = [
        "Computed from the model registry and the `full` profile by `e2s_utils.footprint` "
        "(a test fails when this block is stale).",
        "",
        models.to_markdown(index=False, floatfmt=".0f"),
        "",
    ]
    widths = []
    for preset in ("as_intended", "as_published_code"):
        width = catalog.input_width(catalog.paper_models(), preset, "full")
        params = compressor_params(catalog.paper_models(), preset, "full")
        widths.append(
            f"- `{preset}`: the five models give **{width:,} floats per sample**; the compressor "
            f"has {params / 1e6:.2f} M parameters ({params * 4 / 1e6:.0f} MB per weights-only "
            "snapshot)."
        )
    disk = disk_estimate(full)
    lines += widths + [
        "",
        f"Disk of the `full` profile: the dataset about {REAL_SAMPLES * BYTES_PER_SAMPLE_RAW / 1e9:.0f}"
        f" GB uncompressed; the study writes about **{disk.total:.0f} GB**: embedding stores "
        f"{disk.stores:.1f} GB (both presets and the initialisation variants), kept snapshots "
        f"{disk.snapshots:.1f} GB (best-Q̄, best-MSE and last of the fusion run, the long run and "
        f"its twin; {disk.compressor_snapshot_mb:.0f} MB each), every evaluated checkpoint's "
        f"embeddings {disk.embeddings:.1f} GB, and {disk.resume:.1f} GB of training state while "
        "runs train. With `-p prune_snapshots False` every snapshot is kept.",
    ]
    return "\n".join(lines) + "\n"


def profiles_markdown() -> str:
    """The README's profiles table, from :mod:`e2s_utils.config` (every stage's size)."""
    import pandas as pd

    from e2s_utils import config

    rows = []
    for name in config.PROFILE_NAMES:
        p = config.get_profile(name)
        f, a, lo, c = p.fusion, p.ablation, p.long, p.controlled
        rows.append(
            {
                "profile": f"`{name}`",
                "data": f"{p.data.n_samples} synthetic samples"
                if p.data.synthetic
                else "SSL4EO-S12-downstream (`E2S_DATA_DIR`)",
                "models": f"`{p.extract.size}` configurations, preset `{p.extract.preset}`",
                "compressor": f"{f.epochs} epochs, batch {f.batch_size}, a checkpoint every "
                f"{f.checkpoint_every}",
                "benchmark": p.protocol.label(),
                "ablation": f"{' and '.join(a.presets)}; {a.seeds} seed(s), {a.epochs} epochs",
                "long run": f"{lo.epochs} epochs, {lo.n_checkpoints} checkpoints",
                "controlled study": f"{c.n:,} simulated samples, blocks of {c.width}, "
                f"compressor out {c.out_dim}, {c.epochs} epochs, long runs {c.long_epochs}",
            }
        )
    return pd.DataFrame(rows).to_markdown(index=False) + "\n"


def _replace_block(text: str, start: str, end: str, body: str, where: Path) -> str:
    if start not in text or end not in text:
        raise ValueError(f"{where} has no '{start}' ... '{end}' markers")
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{body}{end}{rest.split(end, 1)[1]}"


def update_readme(readme: Path | None = None) -> bool:
    """Rewrite the README's registry and profiles blocks; whether the file changed.

    Raises:
        ValueError: if the README lacks the markers.
    """
    readme = readme or paths.REPO_ROOT / "README.md"
    text = readme.read_text()
    new = _replace_block(text, START, END, registry_markdown(), readme)
    new = _replace_block(new, PROFILES_START, PROFILES_END, profiles_markdown(), readme)
    if new == text:
        return False
    atomic_write_text(readme, new)
    return True
