"""The ``e2s`` command: one subcommand per stage, each a thin front end to the package.

Subcommands are imported only when called, so ``e2s --help`` stays fast and a stage's heavy
dependencies (torchgeo, terratorch) load only where they are used.
"""

from __future__ import annotations

import importlib
import sys

#: subcommand -> ("module:function", one-line help). Each function takes ``argv`` and returns an exit code.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "reproduce": ("e2s_utils.run:main", "run the whole notebook sequence with papermill"),
    "synth": ("e2s_utils.data.synthetic:main", "write a synthetic dataset in the real format"),
    "weights": ("e2s_utils.models.weights:main", "list expected checkpoints and what is present"),
    "extract": ("e2s_utils.extract:main", "extract one model's embeddings into the store"),
    "train": ("e2s_utils.fusion:main", "train the fusion compressor"),
    "evaluate": ("e2s_utils.evaluate:main", "score an embedding CSV with the NeuCo-Bench protocol"),
    "ablation": ("e2s_utils.studies:ablation_main", "run the ablation study (Table 1)"),
    "long": ("e2s_utils.studies:long_main", "run the long-training (double-descent) study"),
}


def _usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = ["usage: e2s <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in SUBCOMMANDS.items()]
    lines += ["", "Run 'e2s <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``e2s <command> ...`` to the command's ``main(argv)``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from e2s_utils import __version__

        print(f"e2s {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in SUBCOMMANDS:
        print(f"e2s: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name = SUBCOMMANDS[command][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    result = func(rest)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
