"""Band catalogues, wavelengths, bandwidths and both normalisation tables of SSL4EO-S12.

Every number here is copied from the study's specification (SSL4EO-S12 v1.1 documentation and
the SSL4EO-S12-downstream statistics). Bands are addressed by name everywhere in the package;
these tables turn names into file indices, wavelengths and statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Modality = Literal["s1", "s2l1c", "s2l2a"]
StatsTable = Literal["v1.1", "downstream"]

MODALITIES: tuple[Modality, ...] = ("s1", "s2l1c", "s2l2a")
SEASONS: tuple[str, ...] = ("spring", "summer", "fall", "winter")
CUBE_SIZE: int = 264
N_SEASONS: int = 4

#: Band names in the order they are stored inside each modality's ``bands`` array.
BANDS: dict[Modality, tuple[str, ...]] = {
    "s1": ("VV", "VH"),
    "s2l1c": (
        "B01", "B02", "B03", "B04", "B05", "B06", "B07",
        "B08", "B8A", "B09", "B10", "B11", "B12",
    ),
    "s2l2a": (
        "B01", "B02", "B03", "B04", "B05", "B06", "B07",
        "B08", "B8A", "B09", "B11", "B12",
    ),
}  # fmt: skip

N_BANDS: dict[Modality, int] = {m: len(b) for m, b in BANDS.items()}

#: Central wavelengths in nm, keyed by S2 band name.
S2_WAVELENGTH_NM: dict[str, float] = dict(
    zip(BANDS["s2l1c"], (443, 492, 560, 665, 704, 740, 783, 833, 865, 945, 1374, 1614, 2190))
)
#: Bandwidths in nm, keyed by S2 band name.
S2_BANDWIDTH_NM: dict[str, float] = dict(
    zip(BANDS["s2l1c"], (21, 66, 36, 31, 15, 15, 20, 106, 21, 20, 31, 91, 175))
)
#: Native ground sampling distance in metres (the files hold every band resampled to 10 m).
S2_NATIVE_GSD_M: dict[str, int] = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
    "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20,
}  # fmt: skip

#: Sentinel-1 C-band centre frequency (GHz) and the wavelength conventions models use for it.
S1_FREQUENCY_GHZ: float = 5.405
S1_WAVELENGTH_NM_COPERNICUSFM: float = 5e7  # Copernicus-FM's convention (bandwidth 100)
S1_BANDWIDTH_NM_COPERNICUSFM: float = 100.0
S1_WAVELENGTH_UM_DOFA: float = 5.405  # DOFA demo and the winning code use 5.405 as a tag

#: DOFA's own wavelength list (um) for Sentinel-2 L1C, as the winning code passed it.
DOFA_S2_WAVELENGTH_UM: dict[str, float] = dict(
    zip(
        BANDS["s2l1c"],
        (0.443, 0.490, 0.560, 0.665, 0.705, 0.740, 0.783, 0.842, 0.865, 0.945, 1.375, 1.610, 2.190),
    )
)

#: Offset the SSL4EO-S12 v1.1 pretraining set adds to S2 digital numbers (the downstream set does not).
S2_OFFSET_V11: float = 1000.0


@dataclass(frozen=True)
class BandStats:
    """Per-band mean and standard deviation of one modality in one statistics table."""

    mean: dict[str, float]
    std: dict[str, float]

    def select(self, bands: tuple[str, ...] | list[str]) -> tuple[list[float], list[float]]:
        """Return ``(means, stds)`` for the named bands, in the given order.

        Raises:
            KeyError: if a band has no statistics in this table.
        """
        missing = [b for b in bands if b not in self.mean]
        if missing:
            raise KeyError(f"no statistics for bands {missing}; known: {sorted(self.mean)}")
        return [self.mean[b] for b in bands], [self.std[b] for b in bands]


def _stats(bands: tuple[str, ...], mean: tuple[float, ...], std: tuple[float, ...]) -> BandStats:
    if not len(bands) == len(mean) == len(std):
        raise ValueError(f"{len(bands)} bands but {len(mean)} means and {len(std)} stds")
    return BandStats(dict(zip(bands, mean)), dict(zip(bands, std)))


_L2A_NAMES = BANDS["s2l2a"]

#: The two statistics tables of SPEC 1.4. ``v1.1`` pairs with S2 shifted by +1000,
#: ``downstream`` with the raw (unshifted) downstream digital numbers.
STATS: dict[StatsTable, dict[Modality, BandStats]] = {
    "v1.1": {
        "s2l1c": _stats(
            BANDS["s2l1c"],
            (2607.345, 2393.068, 2320.225, 2373.963, 2562.536, 3110.071, 3392.832,
             3321.154, 3583.77, 1838.712, 1021.753, 3205.112, 2545.798),
            (786.523, 849.702, 875.318, 1143.578, 1126.248, 1161.98, 1273.505,
             1246.79, 1342.755, 576.795, 45.626, 1340.347, 1145.036),
        ),
        "s2l2a": _stats(
            _L2A_NAMES,
            (1793.243, 1924.863, 2184.553, 2340.936, 2671.402, 3240.082, 3468.412,
             3563.244, 3627.704, 3711.071, 3416.714, 2849.625),
            (1160.144, 1201.092, 1219.943, 1397.225, 1400.035, 1373.136, 1429.17,
             1485.025, 1447.836, 1652.703, 1471.002, 1365.307),
        ),
        "s1": _stats(BANDS["s1"], (-12.577, -20.265), (5.179, 5.872)),
    },
    "downstream": {
        "s2l1c": _stats(
            BANDS["s2l1c"],
            (1635.299, 1402.885, 1289.505, 1281.272, 1534.981, 2272.474, 2630.972,
             2587.956, 2889.274, 976.031, 20.369, 2109.307, 1350.051),
            (1123.963, 1187.2, 1128.715, 1322.882, 1285.925, 1250.079, 1325.492,
             1294.318, 1343.536, 636.232, 27.82, 1023.855, 834.773),
        ),
        "s2l2a": _stats(
            _L2A_NAMES,
            (802.067, 917.472, 1130.01, 1210.515, 1587.985, 2355.781, 2650.339,
             2787.571, 2860.466, 2921.651, 2221.172, 1549.952),
            (1563.348, 1604.422, 1553.908, 1622.652, 1593.07, 1523.264, 1556.785,
             1618.961, 1532.417, 1653.532, 1183.218, 1025.306),
        ),
        "s1": _stats(BANDS["s1"], (-11.834, -19.243), (4.305, 5.479)),
    },
}  # fmt: skip

#: Prithvi-EO-2.0's own statistics (reflectance x 10000) for B02, B03, B04, B8A, B11, B12.
PRITHVI_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B8A", "B11", "B12")
PRITHVI_STATS = _stats(
    PRITHVI_BANDS,
    (1087.0, 1342.0, 1433.0, 2734.0, 1958.0, 1363.0),
    (2248.0, 2179.0, 2178.0, 1850.0, 1242.0, 1049.0),
)
#: The off-by-one band list the published code fed Prithvi (kept for the ``as_published_code`` preset).
PRITHVI_BANDS_AS_PUBLISHED: tuple[str, ...] = ("B03", "B04", "B05", "B8A", "B11", "B12")


def band_indices(modality: Modality, bands: tuple[str, ...] | list[str]) -> list[int]:
    """Map band names to their index inside a modality's ``bands`` array.

    Raises:
        KeyError: naming the bands the modality does not have.
    """
    catalogue = BANDS[modality]
    missing = [b for b in bands if b not in catalogue]
    if missing:
        raise KeyError(f"modality {modality!r} has no bands {missing}; it has {list(catalogue)}")
    return [catalogue.index(b) for b in bands]
