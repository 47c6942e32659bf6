"""``e2s weights``: which official checkpoints the study expects, where they come from, what is here.

Usage::

    e2s weights                       # list expected files, sources and what E2S_WEIGHTS_DIR holds
    e2s weights --dir PATH            # inspect another folder
    e2s weights --hash                # also compute sha256 of present files (slow for GB files)
    e2s weights --download dofa croma # fetch official files into the folder (network needed)

Each foundation model loads its preset's file under the official name from ``E2S_WEIGHTS_DIR``
(see ``e2s_utils.models.registry.checkpoint_path``): ``as_intended`` Prithvi loads
``Prithvi_EO_V2_600M.pt``, DOFA has one file per preset (the hub weights for
``as_published_code``, the weights retrained for the corrected patch embedding for
``as_intended``), and variants such as ``prithvi_300m`` are listed too. Downloading is a convenience only: the files come
from their authors' releases, are written atomically (``<name>.part`` then rename) and their
sha256 is printed so it can be recorded. Nothing in the package downloads on its own.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from e2s_utils import paths
from e2s_utils.models.common import sha256_file
from e2s_utils.models.registry import CheckpointInfo, get_spec, list_models


@dataclass(frozen=True)
class WeightStatus:
    """One expected checkpoint of a model and what the folder holds.

    Attributes:
        model: registry name.
        info: the official file.
        path: where it is looked for (``None`` without a folder).
        present: whether the file is there.
        size_bytes: its size when present.
        sha256: its digest when computed.
        presets: the presets that load this file at full size (empty: named by a preset that
            runs randomly initialised, as the published code did).
    """

    model: str
    info: CheckpointInfo
    path: Path | None
    present: bool
    size_bytes: int | None
    sha256: str | None
    presets: tuple[str, ...] = ()

    @property
    def pinned_match(self) -> bool | None:
        """Whether the file's sha256 equals the pinned digest (``None`` when unknown)."""
        if self.sha256 is None or self.info.sha256 is None:
            return None
        return self.sha256 == self.info.sha256


def status(
    weights_dir: Path | None = None, *, compute_hash: bool = False, models: Iterable[str] = ()
) -> list[WeightStatus]:
    """Expected checkpoints of the foundation models and their presence in a folder.

    Args:
        weights_dir: folder to inspect (default ``E2S_WEIGHTS_DIR``; ``None`` if unset).
        compute_hash: compute each present file's sha256.
        models: restrict to these models (default: every foundation model with a checkpoint,
            variants included).

    Returns:
        One row per distinct file of each model, in the canonical model order.
    """
    folder = Path(weights_dir) if weights_dir is not None else paths.weights_dir()
    names = list(models) or list_models("foundation", include_variants=True)
    rows = []
    for name in names:
        spec = get_spec(name)
        files: dict[str, tuple[CheckpointInfo, list[str]]] = {}
        for preset in spec.recipes:
            info = spec.checkpoint_for(preset)
            if info is None:
                continue
            entry = files.setdefault(info.filename, (info, []))
            if spec.recipe(preset).loads_checkpoint:
                entry[1].append(preset)
        for info, presets in files.values():
            path = folder / info.filename if folder is not None else None
            present = path is not None and path.is_file()
            rows.append(
                WeightStatus(
                    model=name,
                    info=info,
                    path=path,
                    present=present,
                    size_bytes=path.stat().st_size if present and path else None,
                    sha256=sha256_file(path) if present and path and compute_hash else None,
                    presets=tuple(presets),
                )
            )
    return rows


def format_status(rows: list[WeightStatus], folder: Path | None) -> str:
    """Human-readable listing of :func:`status` rows."""
    where = str(folder) if folder is not None else "(E2S_WEIGHTS_DIR not set: random init)"
    lines = [f"weights folder: {where}", ""]
    for r in rows:
        if r.present:
            size = f"{(r.size_bytes or 0) / 1e6:,.0f} MB"
            digest = f"sha256:{r.sha256}" if r.sha256 else "(sha256 with --hash)"
            check = {True: " [matches pinned digest]", False: " [DIFFERS from pinned digest]"}
            mark = check.get(r.pinned_match, "") if r.pinned_match is not None else ""
            state = f"present, {size}, {digest}{mark}"
        else:
            state = "missing"
        approx = f", about {r.info.size_mb:,.0f} MB" if r.info.size_mb else ""
        used = ", ".join(r.presets) if r.presets else "none (the published code ran random init)"
        lines += [
            f"{r.model}: {r.info.filename}  [{state}]",
            f"    loaded by presets: {used}",
            f"    source: {r.info.source}",
            f"    url:    {r.info.url}{approx}",
            f"    layout: {r.info.layout}",
        ]
    return "\n".join(lines)


def download(
    models: Iterable[str], weights_dir: Path, *, overwrite: bool = False, progress: bool = True
) -> list[Path]:
    """Download official checkpoints into ``weights_dir`` (needs network; tests never call it).

    Each file is streamed to ``<name>.part`` and renamed when complete, so an interrupted
    download never leaves a truncated file under the official name. Prints each sha256.

    Args:
        models: model names (foundation models with a checkpoint).
        weights_dir: destination folder (created if needed).
        overwrite: replace files already present.
        progress: show a tqdm progress bar per file.

    Returns:
        Paths of the files now present.
    """
    from tqdm.auto import tqdm

    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    done = []
    infos = [r.info for name in models for r in status(weights_dir, models=[name])]
    if not infos:
        raise ValueError(f"models {list(models)} have no official checkpoint")
    for info in infos:
        target = weights_dir / info.filename
        if target.is_file() and not overwrite:
            done.append(target)
            continue
        part = target.with_name(target.name + ".part")
        request = urllib.request.Request(info.url, headers={"User-Agent": "e2s-weights"})
        with urllib.request.urlopen(request) as response, open(part, "wb") as fh:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=info.filename, disable=not progress
            ) as bar:
                while block := response.read(1 << 20):
                    fh.write(block)
                    bar.update(len(block))
        os.replace(part, target)
        print(f"{info.filename}: sha256:{sha256_file(target)}")
        done.append(target)
    return done
