"""The README's results section, written from the artifacts of a run (never typed by hand).

After a complete run of the sequence, the runner calls :func:`update_readme`, which replaces the text
between the ``<!-- results:start -->`` and ``<!-- results:end -->`` markers of ``README.md`` with the
run's tables and figures (read from ``figures/``), each labelled with the run's banner, and the wall
time of every notebook.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2s_utils import paths
from e2s_utils.io import atomic_write_text

START, END = "<!-- results:start -->", "<!-- results:end -->"
RUN_TIMES = "run_times"
#: The demo's end-to-end record, rewritten by every complete demo run (its cold or warm section).
END_TO_END = paths.REPO_ROOT / "benchmarks" / "results" / "end_to_end_demo.md"
END_TO_END_HEADER = (
    "# End-to-end `demo` run: wall time, peak memory and disk per notebook\n\n"
    "Written by `e2s reproduce --profile demo` itself after every complete run (the cold or the warm\n"
    "section): wall time per notebook, the kernel's peak resident memory, how much `outputs/` grew\n"
    "(negative where snapshots were pruned) and the 1-minute load average at its start and end.\n"
)

#: (artifact stem, heading) of the tables and findings shown, in order; missing ones are skipped.
TABLES: tuple[tuple[str, str], ...] = (
    ("ablation_findings", "What the ablation supports (paired intervals over folds and seeds)"),
    (
        "table1_ablation",
        "Table 1: single models, fusions and baselines in both presets (mean and interval)",
    ),
    ("table1_resolution", "What the data can resolve: the smallest ΔQ̄ a comparison separates"),
    ("fusion_findings", "The fusion run's reference checkpoints compared"),
    ("fusion_summary", "Fusion compressor: reference checkpoints"),
    ("long_training_findings", "What the long run supports"),
    ("long_training_curve", "Long training: validation MSE and Q̄ at log-spaced checkpoints"),
    ("controlled_findings", "Controlled study: when does fusion help, and why"),
)
#: (artifact stem, caption) of the figures shown, in order; missing ones are skipped.
FIGURES: tuple[tuple[str, str], ...] = (
    ("fusion_q_mse_curve", "Q̄ and validation MSE over training (the paper's Figure 1)"),
    ("fusion_q_vs_mse", "Q̄ against validation MSE"),
    (
        "ablation_heatmap",
        "Per-task quality, coloured by Z, annotated with Q (the paper's Figure 3)",
    ),
    ("long_training", "Long training: validation MSE and Q̄ on a log epoch axis"),
    (
        "controlled_q_bar",
        "Controlled simulation (not the paper's models): Q̄ per condition with its interval",
    ),
    ("data_seasons", "A synthetic cube's four seasons"),
    ("data_real_vs_synthetic", "Real BigEarthNet patches beside synthetic ones"),
)


@dataclass(frozen=True)
class RunRecord:
    """What describes a complete run besides its per-notebook rows.

    Attributes:
        profile: the profile.
        cold: whether the run started with nothing of the profile's outputs.
        shared_kernel: whether the notebooks shared one kernel.
        kernel_starts: kernels started.
        outputs_mb: size of the outputs folder afterwards.
    """

    profile: str
    cold: bool
    shared_kernel: bool = True
    kernel_starts: int = 0
    outputs_mb: float = 0.0


def machine_description() -> str:
    """CPU model, cores, memory, Python and torch versions of this machine."""
    import platform

    from e2s_utils.provenance import package_versions

    cpu = platform.processor() or platform.machine()
    memory = ""
    with contextlib.suppress(OSError, StopIteration):
        names = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        mem_kb = next(int(ln.split()[1]) for ln in meminfo if ln.startswith("MemTotal"))
        memory = f", {mem_kb / 2**20:.0f} GiB"
    return (
        f"{cpu}, {os.cpu_count()} cores{memory}; Python {platform.python_version()}, torch "
        f"{package_versions()['torch']}"
    )


def _record_markdown(rows: list[dict[str, Any]], record: RunRecord) -> str:
    import pandas as pd

    df = pd.DataFrame(rows)
    total = float(df["seconds"].sum()) if len(df) else 0.0
    kernels = (
        f"one shared kernel ({record.kernel_starts} started)"
        if record.shared_kernel
        else f"a fresh kernel per notebook ({record.kernel_starts})"
    )
    header = (
        f"Profile `{record.profile}`, {'cold (nothing cached)' if record.cold else 'warm'} run; "
        f"machine: {machine_description()}; {kernels}. Total **{total / 60:.1f} min**; "
        f"outputs afterwards **{record.outputs_mb / 1e3:.2f} GB**.\n\n"
    )
    return header + df.to_markdown(index=False, floatfmt=".1f") + "\n"


def write_run_times(
    rows: list[dict[str, Any]], record: RunRecord, out_dir: Path | None = None
) -> Path:
    """Record a run's costs per notebook as ``run_times.csv`` and ``.md`` in ``figures/`` (a cold
    run's also as ``run_times_cold.md``, which later warm runs leave in place)."""
    import pandas as pd

    out_dir = out_dir or paths.figures_dir()
    text = _record_markdown(rows, record)
    atomic_write_text(out_dir / f"{RUN_TIMES}.csv", pd.DataFrame(rows).to_csv(index=False))
    atomic_write_text(out_dir / f"{RUN_TIMES}.md", text)
    if record.cold:
        atomic_write_text(out_dir / f"{RUN_TIMES}_cold.md", text)
    return out_dir / f"{RUN_TIMES}.md"


def update_end_to_end(
    rows: list[dict[str, Any]], record: RunRecord, path: Path | None = None
) -> Path:
    """Write the run into its section (cold or warm) of ``benchmarks/results/end_to_end_demo.md``.

    The file's other section and its hand-written notes are kept; a missing section is added.
    """
    path = path or END_TO_END
    kind = "cold" if record.cold else "warm"
    start, end = f"<!-- {kind}:start -->", f"<!-- {kind}:end -->"
    body = f"{start}\n{_record_markdown(rows, record)}{end}"
    text = path.read_text() if path.exists() else END_TO_END_HEADER
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + body + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n## The last {kind} run\n\n{body}\n"
    atomic_write_text(path, text)
    return path


def results_markdown(figures_dir: Path | None = None) -> str:
    """The results section built from the artifacts in ``figures_dir``."""
    figures_dir = figures_dir or paths.figures_dir()
    manifest_path = figures_dir / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    from e2s_utils.config import SIMULATED_NOTEBOOKS

    # a simulated notebook's banner heads its own tables, not the whole section
    own = {
        Path(name).stem: e["banner"]
        for name, e in manifest.items()
        if e.get("notebook") in SIMULATED_NOTEBOOKS and e.get("banner")
    }
    banners = {
        e.get("banner")
        for e in manifest.values()
        if e.get("banner") and e.get("notebook") not in SIMULATED_NOTEBOOKS
    }
    lines: list[str] = []
    if banners:
        lines += [f"> **{b}**" for b in sorted(banners)] + [""]
    profiles = sorted({e.get("profile") for e in manifest.values() if e.get("profile")})
    shas = sorted({(e.get("git") or {}).get("sha") or "unknown" for e in manifest.values()})
    if profiles:
        lines += [
            f"Generated by `e2s reproduce` (profile {', '.join(profiles)}; "
            f"commit {', '.join(s[:10] for s in shas)}).",
            "",
        ]
    for stem, heading in TABLES:
        md = figures_dir / f"{stem}.md"
        if md.exists():
            body = md.read_text().strip()
            body = "\n".join(ln for ln in body.splitlines() if not ln.startswith("_"))
            lines += [f"#### {heading}", ""]
            lines += [f"> **{own[stem]}**", ""] if stem in own else []
            lines += [body.strip(), ""]
    for stem, caption in FIGURES:
        if (figures_dir / f"{stem}.png").exists():
            rel = (
                (figures_dir / f"{stem}.png").relative_to(paths.REPO_ROOT).as_posix()
                if figures_dir.is_relative_to(paths.REPO_ROOT)
                else f"{stem}.png"
            )
            lines += [f"**{caption}**", "", f"![{caption}]({rel})", ""]
    cold = figures_dir / f"{RUN_TIMES}_cold.md"
    cold_text = cold.read_text().strip() if cold.exists() else None
    if cold_text:
        lines += ["#### Cost per notebook of the last cold run (nothing cached)", "", cold_text, ""]
    times = figures_dir / f"{RUN_TIMES}.md"
    if times.exists() and times.read_text().strip() != cold_text:
        lines += [
            "#### Cost per notebook of the run that wrote this section",
            "",
            "Stages resume from what earlier runs left in `outputs/`, so a rerun is "
            "faster than a cold one; both records are in "
            "[benchmarks/results/end_to_end_demo.md](benchmarks/results/end_to_end_demo.md).",
            "",
            times.read_text().strip(),
            "",
        ]
    return "\n".join(lines).strip() + "\n"


def update_readme(readme: Path | None = None, figures_dir: Path | None = None) -> bool:
    """Replace the README's results section; return whether the file changed.

    Raises:
        ValueError: if the README lacks the start/end markers.
    """
    readme = readme or paths.REPO_ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no '{START}' ... '{END}' markers to write the results into")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{results_markdown(figures_dir)}{END}{tail}"
    if new == text:
        return False
    atomic_write_text(readme, new)
    return True
