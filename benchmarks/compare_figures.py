"""Compare a run's figures folder with the figures committed at a git revision.

Tables (CSV) are compared column by column: text exactly, numbers by their largest absolute
difference; PNGs byte for byte, and where they differ, by the share of pixels that differ. Used to
check that a change of code leaves the demo's results unchanged (to float rounding).

    python benchmarks/compare_figures.py --rev be48402 --figures /path/to/run/figures
"""

from __future__ import annotations

import argparse
import io
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def _git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, check=True).stdout


def compare_csv(old: bytes, new: Path) -> list[str]:
    """What differs between two tables: ``column: largest |difference|`` or ``column (text)``."""
    a, b = pd.read_csv(io.BytesIO(old)), pd.read_csv(new)
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return [f"shape or columns {a.shape} -> {b.shape}"]
    out = []
    for col in a.columns:
        if a[col].dtype.kind in "fi" and b[col].dtype.kind in "fi":
            x, y = a[col].to_numpy(float), b[col].to_numpy(float)
            if not np.array_equal(np.isnan(x), np.isnan(y)):
                out.append(f"{col} (missing values)")
            elif len(x) and np.nanmax(np.abs(x - y), initial=0.0) > 0:
                out.append(f"{col}: {np.nanmax(np.abs(x - y)):.3g}")
        elif not a[col].astype(str).equals(b[col].astype(str)):
            changed = [(u, v) for u, v in zip(a[col], b[col], strict=True) if str(u) != str(v)]
            out.append(f"{col} (text, e.g. {changed[0][0]!r} -> {changed[0][1]!r})")
    return out


def pixel_share(old: bytes, new: Path) -> float:
    """Share of pixels that differ between two PNGs of the same size (1.0 if sizes differ)."""
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(old)).convert("RGB"), dtype=np.int16)
    b = np.asarray(Image.open(new).convert("RGB"), dtype=np.int16)
    return 1.0 if a.shape != b.shape else float((np.abs(a - b).sum(-1) > 0).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rev", required=True, help="git revision whose figures/ is the reference")
    p.add_argument("--figures", type=Path, required=True, help="the run's figures folder")
    args = p.parse_args()
    names = _git("ls-tree", "--name-only", args.rev, "figures/").decode().split()
    rows = []
    for name in sorted(n for n in names if n.endswith((".csv", ".png"))):
        stem, new = Path(name).name, args.figures / Path(name).name
        if not new.exists():
            rows.append((stem, "missing in the run"))
            continue
        old = _git("show", f"{args.rev}:{name}")
        if old == new.read_bytes():
            rows.append((stem, "identical"))
        elif stem.endswith(".csv"):
            rows.append((stem, "; ".join(compare_csv(old, new)) or "equal values"))
        else:
            rows.append((stem, f"{100 * pixel_share(old, new):.4f} % of pixels differ"))
    for stem, verdict in rows:
        print(f"| {stem} | {verdict} |")
    same = sum(v == "identical" for _, v in rows)
    print(f"\n{same} of {len(rows)} artifacts byte-identical")


if __name__ == "__main__":
    main()
