"""Reader for SSL4EO-S12-downstream cubes: sample discovery, zipped Zarr v2 I/O, validation, splits.

One sample is one zipped Zarr v2 store per modality, ``<id>.zarr.zip``, holding a single data
variable ``bands`` with dims ``(sample, time, band, y, x)`` and shape ``(1, 4, C, 264, 264)``
(C = 2 for ``s1``, 13 for ``s2l1c``, 12 for ``s2l2a``). Every published layout is supported:

* current release: ``<root>/data/<modality>/part-NNNNNN/<id>.zarr.zip``;
* challenge era: ``<root>/data_dev/<modality>/...`` and ``<root>/data_eval/<modality>/...``,
  flat or with part folders;
* the 50-cube example: ``<root>/data_example/<modality>/...``;
* a root that *is* the data folder: ``<root>/<modality>/...``.

Each modality folder is searched recursively and samples are keyed by file stem minus
``.zarr.zip``. Stores are opened through :class:`zarr.storage.ZipStore`, which works with zarr 2
and zarr 3 alike (a plain path only works with zarr 2).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from e2s_utils.bands import CUBE_SIZE, MODALITIES, N_BANDS, N_SEASONS, Modality
from e2s_utils.errors import E2SError

Split = Literal["all", "dev", "eval"]
OnError = Literal["raise", "skip"]

SUFFIX = ".zarr.zip"
VARIABLE = "bands"
DIMS: tuple[str, ...] = ("sample", "time", "band", "y", "x")
#: Fraction of samples in the dev split of the single-folder layout (5,149 of 13,260, as in the
#: challenge); see :func:`is_dev_id`.
DEV_FRACTION: float = 5149 / 13260
#: Folder names of the challenge-era splits.
SPLIT_FOLDERS: dict[str, str] = {"dev": "data_dev", "eval": "data_eval"}
#: The largest physically possible S2 digital number (reflectance x 10000): bright cloud and snow
#: reach 10,000-16,000 at the top of the atmosphere; 25,000 (reflectance 2.5) leaves a wide margin.
#: 65,535 is the Sentinel-2 products' saturation marker and is accepted as such.
S2_MAX_DN: float = 25000.0
S2_SATURATED: float = 65535.0
#: The physically possible range of Sentinel-1 backscatter in dB (water about -25, urban above 0).
S1_DB_RANGE: tuple[float, float] = (-100.0, 60.0)


class DataError(E2SError, ValueError):
    """A sample that cannot be used: the message names the id, the file and the fix."""


def sample_id(path: Path) -> str:
    """The sample id of a store file: its name minus ``.zarr.zip``."""
    name = Path(path).name
    return name[: -len(SUFFIX)] if name.endswith(SUFFIX) else Path(path).stem


def is_dev_id(sample: str, fraction: float = DEV_FRACTION) -> bool:
    """Deterministic dev/eval assignment of one id for layouts without split folders.

    The id's SHA-256 digest, read as a 64-bit integer and divided by 2**64, is compared with
    ``fraction`` (default 5,149 / 13,260, about 38.8 %, the challenge's dev share). The rule
    depends on the id only, so it is stable across machines, dataset sizes and orderings.
    """
    digest = hashlib.sha256(sample.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def _modality_dirs(base: Path, modalities: Iterable[Modality]) -> dict[Modality, Path]:
    return {m: base / m for m in modalities if (base / m).is_dir()}


def challenge_layout(root: Path) -> bool:
    """Whether ``root`` holds the challenge-era split folders (``data_dev/``, ``data_eval/``)."""
    return any((Path(root) / v).is_dir() for v in SPLIT_FOLDERS.values())


def _layout_bases(root: Path) -> dict[str, Path]:
    """Find the folder(s) holding modality subfolders: name -> base folder."""
    challenge = {k: root / v for k, v in SPLIT_FOLDERS.items() if (root / v).is_dir()}
    if challenge:
        return challenge
    for name in ("data", "data_example"):
        if (root / name).is_dir():
            return {"all": root / name}
    if any((root / m).is_dir() for m in MODALITIES):
        return {"all": root}
    raise DataError(
        f"no SSL4EO-S12-downstream data under {root}: expected data/<modality>/, data_dev/ and "
        "data_eval/, data_example/ or <modality>/ folders holding <id>.zarr.zip files; set "
        "E2S_DATA_DIR to the dataset root (see data/README.md) or generate a synthetic dataset "
        "with `e2s synth --root DIR`"
    )


@dataclass
class SampleIndex:
    """The samples found under a dataset root.

    Attributes:
        root: the dataset root.
        ids: sorted ids present in every requested modality (and in the requested split).
        files: ``files[modality][id]`` is the store path.
        modalities: the modalities indexed.
        splits: ``id -> "dev" | "eval"``.
        incomplete: ids missing from at least one modality, with the modalities they lack
            (filled only with ``on_error="skip"``; ``"raise"`` raises instead).
    """

    root: Path
    ids: list[str]
    files: dict[Modality, dict[str, Path]]
    modalities: tuple[Modality, ...]
    splits: dict[str, Literal["dev", "eval"]] = field(default_factory=dict)
    incomplete: dict[str, list[Modality]] = field(default_factory=dict)

    @classmethod
    def from_root(
        cls,
        root: Path | str,
        modalities: Iterable[Modality] = MODALITIES,
        split: Split = "all",
        on_error: OnError = "raise",
    ) -> SampleIndex:
        """Discover every sample under ``root`` in any published layout.

        Args:
            root: dataset root (see the module docstring for the layouts).
            modalities: modalities every sample must have.
            split: ``all``, or the ``dev`` / ``eval`` split (folders of the challenge-era layout,
                else the hash rule of :func:`is_dev_id`).
            on_error: ``raise`` on an id missing from a modality, or ``skip`` it and record it in
                :attr:`incomplete`.

        Returns:
            The index.

        Raises:
            DataError: for a root without data, a missing modality folder, a duplicated id or
                (with ``on_error="raise"``) an id missing from one modality.
        """
        root = Path(root)
        modalities = tuple(modalities)
        unknown = [m for m in modalities if m not in N_BANDS]
        if unknown:
            raise ValueError(f"unknown modalities {unknown}; choose from {MODALITIES}")
        if split not in ("all", "dev", "eval"):
            raise ValueError(f"split must be 'all', 'dev' or 'eval', not {split!r}")
        bases = _layout_bases(root)
        files: dict[Modality, dict[str, Path]] = {m: {} for m in modalities}
        splits: dict[str, Literal["dev", "eval"]] = {}
        base_of: dict[str, Path] = {}
        for split_name, base in bases.items():
            dirs = _modality_dirs(base, modalities)
            missing_dirs = [m for m in modalities if m not in dirs]
            if missing_dirs:
                raise DataError(
                    f"modality folder(s) {missing_dirs} missing under {base}; every sample needs "
                    f"{list(modalities)} (pass modalities=... to read fewer, or re-download)"
                )
            for m, folder in dirs.items():
                for path in folder.rglob(f"*{SUFFIX}"):
                    sid = sample_id(path)
                    if sid in files[m]:
                        raise DataError(
                            f"id {sid} appears twice in modality {m!r}: {files[m][sid]} and "
                            f"{path}; remove one copy"
                        )
                    files[m][sid] = path
                    base_of[sid] = base
                    if split_name != "all":
                        splits[sid] = split_name  # type: ignore[assignment]
        all_ids = sorted(set().union(*(set(f) for f in files.values())))
        incomplete = {
            sid: [m for m in modalities if sid not in files[m]]
            for sid in all_ids
            if any(sid not in files[m] for m in modalities)
        }
        if incomplete and on_error == "raise":
            sid, lacking = next(iter(incomplete.items()))
            have = next(files[m][sid] for m in modalities if sid in files[m])
            folders = [str(base_of[sid] / m) for m in lacking]
            raise DataError(
                f"id {sid} has no {lacking} store (looked in {folders}; found {have}); "
                f"{len(incomplete)} id(s) incomplete in all. Re-download the missing files or use "
                "on_error='skip' to leave such ids out"
            )
        ids = [s for s in all_ids if s not in incomplete]
        for sid in ids:
            splits.setdefault(sid, "dev" if is_dev_id(sid) else "eval")
        if split != "all":
            ids = [s for s in ids if splits[s] == split]
        return cls(root, ids, files, modalities, splits, incomplete)

    def path(self, sample: str, modality: Modality) -> Path:
        """The store file of one sample and modality.

        Raises:
            DataError: if the id or modality is not indexed.
        """
        try:
            return self.files[modality][sample]
        except KeyError:
            raise DataError(
                f"no {modality!r} store for id {sample} under {self.root}; check the id and the "
                f"modalities indexed ({list(self.modalities)})"
            ) from None

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, sample: object) -> bool:
        return sample in set(self.ids)


def split_ids(root: Path | str) -> dict[Literal["dev", "eval"], list[str]]:
    """Dev and eval ids of a dataset.

    The challenge-era layout gives them by folder (``data_dev`` / ``data_eval``); the
    single-folder layouts use the deterministic hash rule of :func:`is_dev_id` (about 38.8 %
    dev, like 5,149 of 13,260).

    Args:
        root: the dataset root.

    Returns:
        ``{"dev": sorted ids, "eval": sorted ids}``.
    """
    index = SampleIndex.from_root(root)
    out: dict[Literal["dev", "eval"], list[str]] = {"dev": [], "eval": []}
    for sid in index.ids:
        out[index.splits[sid]].append(sid)
    return out


def _close(store: object) -> None:
    """Close a zarr ZipStore, tolerating one whose zip never opened (zarr 3 then lacks ``_zf``)."""
    try:
        store.close()  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        pass


def _open_bands(path: Path):  # noqa: ANN202 - returns (store, zarr array)
    import zarr

    with zipfile.ZipFile(path) as zf:  # the real cause first: BadZipFile for a truncated file
        zf.infolist()
    store = zarr.storage.ZipStore(str(path), mode="r")
    try:
        group = zarr.open_group(store=store, mode="r")
        return store, group[VARIABLE]
    except Exception:
        _close(store)
        raise


def check_physical_range(cube: np.ndarray, modality: Modality, where: str) -> None:
    """Reject values no sensor can produce (a damaged chunk decodes to such garbage).

    S2 digital numbers must lie in ``[0, S2_MAX_DN]`` or equal the saturation marker
    ``S2_SATURATED``; S1 backscatter must lie in :data:`S1_DB_RANGE` dB.

    Raises:
        DataError: naming the sample, the file, how many values and the largest offender.
    """
    if modality == "s1":
        lo, hi = S1_DB_RANGE
        bad = (cube < lo) | (cube > hi)
        unit = "dB"
    else:
        lo, hi = 0.0, S2_MAX_DN
        bad = ((cube < lo) | (cube > hi)) & (cube != S2_SATURATED)
        unit = "digital numbers (reflectance x 10000)"
    if bad.any():
        worst = float(cube[bad][np.argmax(np.abs(cube[bad]))])
        raise DataError(
            f"{where}: {int(bad.sum())} value(s) outside the physically possible range "
            f"[{lo:g}, {hi:g}] {unit} (e.g. {worst:g}); a chunk of the file is damaged: "
            "re-download it, or use on_error='skip'"
        )


def read_cube(
    path: Path | str,
    modality: Modality,
    sample: str | None = None,
    check_finite: bool = True,
) -> np.ndarray:
    """Read and validate the ``bands`` variable of one zipped Zarr v2 store.

    Args:
        path: the ``<id>.zarr.zip`` file.
        modality: ``s1``, ``s2l1c`` or ``s2l2a`` (fixes the expected band count).
        sample: the id, for messages (default: from the file name).
        check_finite: reject NaN, infinite and physically impossible values
            (:func:`check_physical_range`).

    Returns:
        float32 array ``(4, C, 264, 264)``.

    Raises:
        DataError: for an unreadable or truncated zip, a store without ``bands``, a wrong shape
            or band count, or non-finite or impossible values; the message names the id and
            the file.
    """
    path = Path(path)
    sid = sample or sample_id(path)
    where = f"id {sid} ({modality}, file {path})"
    if modality not in N_BANDS:
        raise ValueError(f"unknown modality {modality!r}; choose from {MODALITIES}")
    if not path.is_file():
        raise DataError(f"{where}: file not found; re-download it or rebuild the index")
    try:
        store, arr = _open_bands(path)
    except zipfile.BadZipFile as exc:
        raise DataError(
            f"{where}: not a readable zip file (BadZipFile: {exc}); the file is truncated or "
            "corrupt: re-download it, or use on_error='skip'"
        ) from exc
    except Exception as exc:  # JSON and zarr errors also mean "unreadable store"
        raise DataError(
            f"{where}: unreadable zipped Zarr store ({type(exc).__name__}: {exc}); the file is "
            "truncated or corrupt: re-download it, or use on_error='skip'"
        ) from exc
    try:
        shape = tuple(arr.shape)
        expected = (1, N_SEASONS, N_BANDS[modality], CUBE_SIZE, CUBE_SIZE)
        if shape not in (expected, expected[1:]):
            what = "band count" if len(shape) == 5 and shape[2] != expected[2] else "shape"
            raise DataError(
                f"{where}: wrong {what}: 'bands' has shape {shape}, expected {expected} "
                f"(sample, time, band, y, x with {N_BANDS[modality]} {modality} bands); the file "
                "belongs to another modality or dataset: re-download it, or use on_error='skip'"
            )
        try:
            data = np.asarray(arr[...])
        except Exception as exc:
            raise DataError(
                f"{where}: chunk data unreadable ({type(exc).__name__}: {exc}); the file is "
                "truncated or corrupt: re-download it, or use on_error='skip'"
            ) from exc
    finally:
        _close(store)
    cube = data.reshape(expected[1:]).astype(np.float32, copy=False)
    if check_finite and not np.isfinite(cube).all():
        bad = int((~np.isfinite(cube)).sum())
        raise DataError(
            f"{where}: {bad} NaN/inf value(s) in 'bands'; S1 stored as float16 may overflow: "
            "re-download or re-export the sample, or use on_error='skip'"
        )
    if check_finite:
        check_physical_range(cube, modality, where)
    return cube


def write_cube(path: Path | str, cube: np.ndarray, chunk_seasons: bool = True) -> Path:
    """Write one cube as a zipped Zarr v2 store in the dataset's exact format.

    The store is first written as a Zarr v2 directory store (``.zgroup``, consolidated
    ``.zmetadata``, array ``bands`` with ``_ARRAY_DIMENSIONS`` in its ``.zattrs``, Blosc-LZ4
    compressed chunks), then its members are zipped relative to the store root (``ZIP_STORED``).
    Writing straight into a ``ZipStore`` with zarr 3 would produce duplicate zip members. The
    write is atomic (temporary file + ``os.replace``).

    Args:
        path: destination ``<id>.zarr.zip``.
        cube: ``(4, C, H, W)`` or ``(1, 4, C, H, W)`` array, written in its own dtype
            (uint16 for S2 digital numbers, float32 for S1 dB).
        chunk_seasons: one chunk per season (else one chunk for the whole cube).

    Returns:
        The path written.
    """
    import numcodecs
    import zarr

    path = Path(path)
    data = np.asarray(cube)
    if data.ndim == 4:
        data = data[None]
    if data.ndim != 5:
        raise ValueError(f"cube must be (4, C, H, W) or (1, 4, C, H, W), got {data.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks = (1, 1, *data.shape[2:]) if chunk_seasons else data.shape
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".tmp-") as tmp:
        store_dir = Path(tmp) / "store.zarr"
        compressor = numcodecs.Blosc("lz4", 5, numcodecs.Blosc.SHUFFLE)
        if int(zarr.__version__.split(".")[0]) >= 3:
            group = zarr.open_group(str(store_dir), mode="w", zarr_format=2)
            arr = group.create_array(
                VARIABLE,
                shape=data.shape,
                dtype=data.dtype,
                chunks=chunks,
                compressors=compressor,
                fill_value=None,
                attributes={"_ARRAY_DIMENSIONS": list(DIMS)},
            )
            arr[...] = data
            zarr.consolidate_metadata(str(store_dir), zarr_format=2)
        else:  # zarr 2.18: DirectoryStore, the same v2 layout
            group = zarr.open_group(str(store_dir), mode="w")
            arr = group.create_dataset(
                VARIABLE,
                shape=data.shape,
                dtype=data.dtype,
                chunks=chunks,
                compressor=compressor,
                fill_value=None,
            )
            arr.attrs["_ARRAY_DIMENSIONS"] = list(DIMS)
            arr[...] = data
            zarr.consolidate_metadata(str(store_dir))
        tmp_zip = Path(tmp) / "store.zip"
        with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_STORED) as zf:
            for member in sorted(p for p in store_dir.rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(
                    member.relative_to(store_dir).as_posix(), (1980, 1, 1, 0, 0, 0)
                )
                info.compress_type = zipfile.ZIP_STORED
                zf.writestr(info, member.read_bytes())
        os.replace(tmp_zip, path)
    return path


def zarr_metadata(path: Path | str) -> dict[str, dict]:
    """The JSON metadata members (``.zgroup``, ``.zarray``, ``.zattrs`` ...) of a zipped store."""
    with zipfile.ZipFile(path) as zf:
        return {
            name: json.loads(zf.read(name))
            for name in zf.namelist()
            if name.rsplit("/", 1)[-1].startswith(".z")
        }
