"""One cache for every stage: results keyed by their configuration and the code that made them.

A :class:`CacheKey` names everything a result depends on: its ``kind`` (which stage made it), the
stage's **code version** (:data:`CODE_VERSIONS`, bumped whenever that stage's numbers change) and a
JSON-able ``config`` (settings, data fingerprints, the evaluation protocol ...). Its
:attr:`~CacheKey.digest` (sha256 of the canonical JSON) names the folder or file a result lives in,
so a change of configuration or of code version can never silently reuse an old result: it looks
somewhere else, and recomputes.

Two ways to use it:

* a **folder** of work in progress (an embedding store, a compressor run) is claimed with
  :func:`claim`, which writes ``cache.json`` holding the key, or checks that an existing one holds
  the same key and refuses to mix otherwise (:class:`CacheMismatch`, listing the differences);
* a **single result** (one evaluation, one ablation unit) is stored with :func:`write_result` and
  read back with :func:`read_result`, which returns ``None`` unless the stored key is the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2s_utils.errors import E2SError
from e2s_utils.io import atomic_write_json, canonical_json, config_hash, exclusive_write_bytes

#: Code version per kind of cached result. Bump a number when the stage's output changes for the
#: same configuration: every cached result of that kind is then recomputed.
CODE_VERSIONS: dict[str, int] = {
    "store": 1,
    "fusion": 1,
    "evaluation": 4,
    "ablation": 3,
    "long": 3,
    "controlled": 2,
}
CACHE_FILE = "cache.json"


class CacheMismatch(E2SError):
    """A folder that already holds the results of another configuration or code version."""


@dataclass(frozen=True)
class CacheKey:
    """What one cached result depends on.

    Attributes:
        kind: the stage (a key of :data:`CODE_VERSIONS`).
        config: JSON-able settings and data fingerprints; stored in canonical form.
    """

    kind: str
    config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in CODE_VERSIONS:
            raise ValueError(f"unknown cache kind {self.kind!r}; known: {sorted(CODE_VERSIONS)}")
        object.__setattr__(self, "config", json.loads(canonical_json(dict(self.config))))

    @property
    def code_version(self) -> int:
        """The code version of this kind of result."""
        return CODE_VERSIONS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        """``{"kind", "code_version", "config"}``: what the digest is taken of."""
        return {"kind": self.kind, "code_version": self.code_version, "config": dict(self.config)}

    @property
    def digest(self) -> str:
        """sha256 (hex) of the canonical JSON of :meth:`to_dict`."""
        return config_hash(self.to_dict())

    def short(self, n: int = 12) -> str:
        """The first ``n`` hex digits of :attr:`digest` (folder and file names)."""
        return self.digest[:n]


def describe_difference(
    old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = ""
) -> list[str]:
    """Human-readable lines naming every differing entry of two nested dicts (values shortened)."""
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            lines += describe_difference(a, b, f"{prefix}{key}.")
        elif canonical_json(a) != canonical_json(b):
            sa, sb = canonical_json(a), canonical_json(b)
            sa = sa if len(sa) <= 120 else sa[:117] + "..."
            sb = sb if len(sb) <= 120 else sb[:117] + "..."
            lines.append(f"{prefix}{key}: stored {sa}, now {sb}")
    return lines


def claim(folder: Path, key: CacheKey) -> bool:
    """Claim ``folder`` for ``key``: create its ``cache.json``, or check the existing one.

    Safe against concurrent claims (the file is created exclusively).

    Returns:
        ``True`` if this call created the claim, ``False`` if the folder already held this key.

    Raises:
        CacheMismatch: if the folder holds another key (the message lists what differs).
    """
    path = Path(folder) / CACHE_FILE
    text = json.dumps(key.to_dict(), indent=1, sort_keys=True) + "\n"
    if exclusive_write_bytes(path, text.encode()):
        return True
    try:
        stored = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CacheMismatch(f"{path} is not valid JSON ({err}); delete {folder} and rerun") from err
    if config_hash(stored) != key.digest:
        diffs = describe_difference(stored, key.to_dict())
        raise CacheMismatch(
            f"{folder} holds results of another configuration or code version; refusing to mix "
            "them. Differences:\n  - "
            + "\n  - ".join(diffs or ["the stored key differs"])
            + f"\nDelete {folder} to recompute, or use another output folder (E2S_OUTPUT_DIR)."
        )
    return False


def read_result(path: Path, key: CacheKey) -> Any | None:
    """The result stored at ``path`` under ``key``, or ``None`` (absent, unreadable or stale)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except (json.JSONDecodeError, OSError):
        return None
    if not isinstance(stored, dict) or stored.get("digest") != key.digest:
        return None
    return stored.get("result")


def write_result(path: Path, key: CacheKey, result: Any) -> Path:
    """Store ``result`` (JSON-able) at ``path`` under ``key``, atomically."""
    return atomic_write_json(path, {"key": key.to_dict(), "digest": key.digest, "result": result})
