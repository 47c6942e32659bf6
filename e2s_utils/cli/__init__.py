"""The ``e2s`` command: one subcommand per stage, each a module of this package.

This package is the only place argparse lives. Each subcommand module has ``build_parser()`` and
``main(argv) -> int``; they are imported only when called, so ``e2s --help`` stays fast and a
stage's heavy dependencies load only where they are used. Every project error
(:class:`~e2s_utils.errors.E2SError`: a missing or corrupt file, a store of another configuration, a
checkpoint that does not fit ...) becomes one ``error:`` line naming the file and the fix, with exit
code 2 and no traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import gc
import importlib
import sys

from e2s_utils.errors import E2SError

#: subcommand -> one-line help; the module is ``e2s_utils.cli.<subcommand>``.
SUBCOMMANDS: dict[str, str] = {
    "reproduce": "run the whole notebook sequence with papermill",
    "synth": "write a synthetic dataset in the real format",
    "weights": "list expected checkpoints and what is present",
    "split": "show a dataset's dev/eval split; write the official split file",
    "extract": "extract one model's embeddings into the store",
    "train": "train the fusion compressor",
    "evaluate": "score an embedding CSV with the NeuCo-Bench protocol",
    "ablation": "run the ablation study (Table 1)",
    "long": "run the long-training (double-descent) study",
    "lab": "open the study in JupyterLab: sources beside executed copies",
}


def _usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = ["usage: e2s <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, text in SUBCOMMANDS.items()]
    lines += ["", "Run 'e2s <command> --help' for a command's options."]
    return "\n".join(lines)


def _project_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [E2SError]
    try:
        from e2s_utils.models.common import CheckpointError

        errors.append(CheckpointError)
    except ImportError:  # pragma: no cover - the models package is part of the project
        pass
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``e2s <command> ...`` to ``e2s_utils.cli.<command>.main(argv)``."""
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
    module = importlib.import_module(f"e2s_utils.cli.{command}")
    try:
        return int(module.main(rest) or 0)
    except _project_errors() as err:
        print(f"e2s {command}: error: {err}", file=sys.stderr)
        return 2


def run() -> None:
    """The ``e2s`` command: :func:`main`, then exit without a final garbage collection.

    The process ends right after the command, so the collector's last pass over everything it
    imported (a third of a second once numba is loaded, longer than ``e2s evaluate``'s
    probe training on two threads) is skipped with ``gc.freeze()``; exit handlers still run.
    """
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
