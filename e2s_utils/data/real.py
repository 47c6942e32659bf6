"""Six real paired Sentinel-1 + Sentinel-2 L2A patches (BigEarthNet examples) for sanity checks.

The PyPI wheel ``bigearthnet-common==2.8.0`` (a test and demo dependency) ships two small
archives, ``BigEarthNet-S1-Example.tar.bz2`` and ``BigEarthNet-S2-Example.tar.bz2``, holding six
BigEarthNet patches: 120 x 120 pixels at 10 m, one date each, with their CORINE labels. Each
Sentinel-1 patch names its Sentinel-2 partner in its metadata. They are read straight from the
archives inside the installed package (nothing is extracted or downloaded).

S2 bands are L2A digital numbers (reflectance x 10000) in the downstream L2A band order; the
20 m and 60 m bands, stored at their native size, are repeated onto the 10 m grid (blocky, as in
SSL4EO-S12). S1 is backscatter in dB (VV, VH).

Credit: BigEarthNet (Sumbul et al.), licensed CDLA-Permissive-1.0; contains modified Copernicus
Sentinel data (2017-2018).
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from e2s_utils.bands import BANDS, SEASONS

PACKAGE = "bigearthnet_common"
S1_ARCHIVE = "BigEarthNet-S1-Example.tar.bz2"
S2_ARCHIVE = "BigEarthNet-S2-Example.tar.bz2"
PATCH_SIZE = 120
CREDIT = (
    "BigEarthNet example patches (CDLA-Permissive-1.0); contains modified Copernicus "
    "Sentinel data 2017-2018"
)


@dataclass(frozen=True)
class RealPatch:
    """One real paired patch.

    Attributes:
        name: the Sentinel-2 patch name.
        s1_name: the Sentinel-1 patch name.
        s2l2a: float32 ``(12, 120, 120)`` L2A digital numbers, bands as ``BANDS["s2l2a"]``.
        s1: float32 ``(2, 120, 120)`` dB, ``VV`` then ``VH``.
        labels: CORINE (BigEarthNet-43) labels.
        date: acquisition date of the S2 patch (``YYYY-MM-DD``).
        season: northern-hemisphere season of that date.
    """

    name: str
    s1_name: str
    s2l2a: np.ndarray = field(repr=False)
    s1: np.ndarray = field(repr=False)
    labels: tuple[str, ...]
    date: str
    season: str


def _season(month: int) -> str:
    return SEASONS[((month - 3) % 12) // 3]


def _archive(name: str) -> tarfile.TarFile:
    try:
        root = resources.files(PACKAGE)
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"the real example patches need the package {PACKAGE!r}: "
            "pip install bigearthnet-common==2.8.0 (a test/demo dependency of e2s-utils)"
        ) from exc
    data = (root / name).read_bytes()
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:bz2")


def _members(tar: tarfile.TarFile) -> dict[str, dict[str, bytes]]:
    """patch folder -> file suffix (``B02``, ``VV``, ``labels_metadata``) -> bytes."""
    out: dict[str, dict[str, bytes]] = {}
    for member in tar.getmembers():
        if not member.isfile():
            continue
        parts = member.name.split("/")
        if len(parts) != 3:
            continue
        patch, fname = parts[1], parts[2]
        key = fname[len(patch) + 1 :].rsplit(".", 1)[0]
        handle = tar.extractfile(member)
        if handle is not None:
            out.setdefault(patch, {})[key] = handle.read()
    return out


def _tif(blob: bytes) -> np.ndarray:
    import tifffile

    return np.asarray(tifffile.imread(io.BytesIO(blob)))


def _to_grid(band: np.ndarray) -> np.ndarray:
    factor = PATCH_SIZE // band.shape[0]
    if factor * band.shape[0] != PATCH_SIZE or band.shape[0] != band.shape[1]:
        raise ValueError(f"unexpected band size {band.shape} for a {PATCH_SIZE}-pixel patch")
    return np.repeat(np.repeat(band, factor, axis=0), factor, axis=1)


@lru_cache(maxsize=1)
def load_patches() -> tuple[RealPatch, ...]:
    """The six real paired S1 + S2-L2A patches, sorted by S2 patch name.

    Returns:
        The patches (cached after the first call).

    Raises:
        ModuleNotFoundError: if ``bigearthnet-common`` is not installed.
    """
    with _archive(S2_ARCHIVE) as tar:
        s2 = _members(tar)
    with _archive(S1_ARCHIVE) as tar:
        s1 = _members(tar)
    s1_for_s2 = {}
    for s1_name, files in s1.items():
        meta = json.loads(files["labels_metadata"])
        s1_for_s2[meta["corresponding_s2_patch"]] = s1_name
    patches = []
    for name in sorted(s2):
        files = s2[name]
        meta = json.loads(files["labels_metadata"])
        cube = np.stack([_to_grid(_tif(files[b])) for b in BANDS["s2l2a"]]).astype(np.float32)
        s1_name = s1_for_s2[name]
        sar = np.stack([_tif(s1[s1_name][p]) for p in BANDS["s1"]]).astype(np.float32)
        date = str(meta["acquisition_date"]).split(" ")[0]
        patches.append(
            RealPatch(
                name=name,
                s1_name=s1_name,
                s2l2a=cube,
                s1=sar,
                labels=tuple(meta["labels"]),
                date=date,
                season=_season(int(date.split("-")[1])),
            )
        )
    return tuple(patches)


def band_medians(patches: tuple[RealPatch, ...] | None = None) -> dict[str, float]:
    """Median of every S2 L2A band over all pixels of the real patches."""
    patches = load_patches() if patches is None else patches
    stack = np.stack([p.s2l2a for p in patches])  # (n, 12, H, W)
    return {b: float(np.median(stack[:, i])) for i, b in enumerate(BANDS["s2l2a"])}


def s1_means(patches: tuple[RealPatch, ...] | None = None) -> dict[str, float]:
    """Mean dB of VV and VH over all pixels of the real patches."""
    patches = load_patches() if patches is None else patches
    stack = np.stack([p.s1 for p in patches])
    return {b: float(stack[:, i].mean()) for i, b in enumerate(BANDS["s1"])}
