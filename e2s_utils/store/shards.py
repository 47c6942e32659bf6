"""The embedding store: per model, preset and size, id-indexed float32 ``(n, C, T)`` shards.

Layout of one store (``store_path(out_dir, model, preset, size)``)::

    <out_dir>/embeddings/<model>__<preset>__<size>/
        manifest.json            config, config hash, weights identity, the ids in store order,
                                 shard size, shape; ``complete`` and ``skipped`` after finalisation
        shards/shard-00000.npy   float32 (rows, C, T), the embeddings of shard 0's kept ids
        shards/shard-00000.json  the shard's ids, skipped ids with reasons, sha256 of the .npy
        fitted_state.pt          fitted state of a baseline that needs fitting (optional)

The ids are fixed once, in the order the manifest lists them, and cut into shards of
``shard_size`` consecutive ids: shard ``j`` holds ``ids[j * shard_size:(j + 1) * shard_size]``
minus the ids that could not be read. A shard is written atomically (temporary file, then
``os.replace``): first its ``.npy``, then its ``.json``; a shard counts as finished only when its
``.json`` exists, so a process killed at any point leaves either a finished shard or none.
Finished shards are never recomputed.

Several processes (``--shard i/n``, ``torchrun``, a cluster array job) share one store: worker
``i`` of ``n`` owns the shards ``j`` with ``j % n == i``. They write disjoint files, so no
locking is needed; the manifest is created exclusively (``os.link``) and every later process
checks that its configuration hashes to the same value, refusing to mix otherwise. Once every
shard is finished, :meth:`EmbeddingStore.finalize` validates the shards (checksums, ids, shapes)
and marks the manifest complete. Every file is written deterministically (no timestamps), so
the same configuration on the same machine gives a byte-identical store however the work was
split.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from e2s_utils.cache import CacheKey, describe_difference
from e2s_utils.errors import E2SError
from e2s_utils.io import (
    atomic_write_bytes,
    atomic_write_json,
    canonical_json,
    exclusive_write_bytes,
    ids_hash,
    npy_bytes,
    sha256_bytes,
    sha256_file,
)
from e2s_utils.store.layout import DEFAULT_SHARD_SIZE, owned_shards, shard_of

STORE_FORMAT = "e2s-embedding-store"
STORE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FITTED_STATE = "fitted_state.pt"
SHARD_DIR = "shards"


class StoreError(E2SError, RuntimeError):
    """A store that cannot be read or written as asked (missing, incomplete, corrupt)."""


class StoreConfigError(StoreError):
    """A store that already holds embeddings of a different configuration."""


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()


class EmbeddingStore:
    """Read and write one embedding store (see the module docstring for its layout).

    Args:
        path: the store's folder, usually from :func:`store_path`.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._manifest: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"EmbeddingStore({str(self.path)!r})"

    # ------------------------------------------------------------------ manifest
    @property
    def manifest_path(self) -> Path:
        """``<store>/manifest.json``."""
        return self.path / MANIFEST

    def exists(self) -> bool:
        """Whether the store has a manifest (it may still be incomplete)."""
        return self.manifest_path.is_file()

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest as a dict (read from disk on first access and after every write).

        Raises:
            StoreError: if the store has no manifest or it cannot be parsed.
        """
        if self._manifest is None:
            if not self.exists():
                raise StoreError(
                    f"no embedding store at {self.path} (no {MANIFEST}); run "
                    "`e2s extract --model M --preset P --size S --data DIR` to create it"
                )
            try:
                manifest = json.loads(self.manifest_path.read_text())
            except json.JSONDecodeError as err:
                raise StoreError(
                    f"{self.manifest_path} is not valid JSON ({err}); delete the store folder "
                    "and extract again"
                ) from err
            if manifest.get("format") != STORE_FORMAT:
                raise StoreError(f"{self.manifest_path} is not an {STORE_FORMAT} manifest")
            if manifest.get("format_version") != STORE_FORMAT_VERSION:
                raise StoreError(
                    f"{self.manifest_path} has store format version "
                    f"{manifest.get('format_version')}, this package reads "
                    f"{STORE_FORMAT_VERSION}; delete the store folder and extract again"
                )
            self._manifest = manifest
        return self._manifest

    @property
    def all_ids(self) -> list[str]:
        """Every id the store was created for, in store order (skipped ones included)."""
        return list(self.manifest["ids"])

    @property
    def shard_size(self) -> int:
        """Ids per shard."""
        return int(self.manifest["shard_size"])

    @property
    def n_shards(self) -> int:
        """Number of shards the ids are cut into."""
        n = len(self.manifest["ids"])
        return (n + self.shard_size - 1) // self.shard_size

    @property
    def shape(self) -> tuple[int, int]:
        """Per-sample embedding shape ``(C, T)``."""
        c, t = self.manifest["shape"]
        return int(c), int(t)

    @property
    def config(self) -> dict[str, Any]:
        """The configuration the store was created with."""
        return dict(self.manifest["config"])

    @property
    def config_hash(self) -> str:
        """sha256 of the canonical JSON of :attr:`config`."""
        return str(self.manifest["config_hash"])

    @property
    def weights_identity(self) -> str:
        """``sha256:<hex> <file>`` of the checkpoint, or ``random init, seed <s>``."""
        return str(self.manifest["config"].get("weights_identity", ""))

    @property
    def complete(self) -> bool:
        """Whether :meth:`finalize` has validated every shard."""
        return bool(self.manifest.get("complete", False))

    def create(
        self,
        config: Mapping[str, Any],
        ids: list[str],
        shape: tuple[int, int],
        shard_size: int = DEFAULT_SHARD_SIZE,
        info: Mapping[str, Any] | None = None,
    ) -> bool:
        """Create the store's manifest, or check that an existing one matches.

        ``config`` must be JSON-serialisable and identify everything that changes the embeddings
        (model, preset, size, recipe, seed, weights identity, data identity, package version).

        Args:
            config: the run's configuration.
            ids: every id of the store, in store order (unique).
            shape: per-sample ``(C, T)``.
            shard_size: ids per shard.
            info: provenance recorded beside the configuration but neither hashed nor compared
                (e.g. the data root's path, which may move between machines).

        Returns:
            ``True`` if this call created the manifest, ``False`` if a matching one existed.

        Raises:
            StoreConfigError: if the store exists with another configuration, other ids, another
                shape or another shard size (the message lists what differs and the fix).
            ValueError: for duplicate ids, an empty id list or a bad shard size.
        """
        if not ids:
            raise ValueError(f"cannot create an embedding store at {self.path} with no ids")
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise ValueError(f"duplicate ids for store {self.path}: {dup}")
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        config = json.loads(canonical_json(dict(config)))
        manifest = {
            "format": STORE_FORMAT,
            "format_version": STORE_FORMAT_VERSION,
            "config": config,
            "config_hash": CacheKey("store", config).digest,
            "ids": list(ids),
            "ids_sha256": ids_hash(ids),
            "shard_size": int(shard_size),
            "shape": [int(shape[0]), int(shape[1])],
            "dtype": "float32",
            "complete": False,
            "skipped": {},
            "info": json.loads(canonical_json(dict(info or {}))),
        }
        if not self.exists():
            (self.path / SHARD_DIR).mkdir(parents=True, exist_ok=True)
            if exclusive_write_bytes(self.manifest_path, _json_bytes(manifest)):
                self._manifest = manifest
                return True
        self._manifest = None
        self.check_compatible(manifest)
        return False

    def check_compatible(self, manifest: Mapping[str, Any]) -> None:
        """Raise :class:`StoreConfigError` unless ``manifest`` describes this store's content."""
        have = self.manifest
        diffs: list[str] = []
        if have["config_hash"] != manifest["config_hash"]:
            diffs += describe_difference(have["config"], manifest["config"])
            if not diffs:
                diffs.append("the extraction code version differs (its output changed)")
        if have["ids_sha256"] != manifest["ids_sha256"]:
            old, new = set(have["ids"]), set(manifest["ids"])
            diffs.append(
                f"ids: store has {len(old)} ids, this run has {len(new)} "
                f"({len(new - old)} new, {len(old - new)} missing"
                + (", same set in another order" if old == new else "")
                + ")"
            )
        for key in ("shard_size", "shape"):
            if have[key] != manifest[key]:
                diffs.append(f"{key}: store has {have[key]}, this run has {manifest[key]}")
        if diffs:
            raise StoreConfigError(
                f"the embedding store {self.path} holds embeddings of another configuration; "
                "refusing to mix them. Differences:\n  - "
                + "\n  - ".join(diffs)
                + "\nUse another output folder (--out), or delete "
                f"{self.path} to extract again from scratch."
            )

    # ------------------------------------------------------------------ shards
    def shard_file(self, j: int) -> Path:
        """Path of shard ``j``'s array (``shards/shard-XXXXX.npy``)."""
        return self.path / SHARD_DIR / f"shard-{j:05d}.npy"

    def shard_meta_file(self, j: int) -> Path:
        """Path of shard ``j``'s sidecar (``shards/shard-XXXXX.json``), written last."""
        return self.path / SHARD_DIR / f"shard-{j:05d}.json"

    def shard_ids(self, j: int) -> list[str]:
        """The ids shard ``j`` is responsible for, in store order."""
        if not 0 <= j < self.n_shards:
            raise IndexError(f"shard {j} out of range: {self.path} has {self.n_shards} shards")
        return self.all_ids[j * self.shard_size : (j + 1) * self.shard_size]

    def is_finished(self, j: int) -> bool:
        """Whether shard ``j`` was written completely (its sidecar exists)."""
        return self.shard_meta_file(j).is_file()

    def finished_shards(self) -> list[int]:
        """Numbers of every finished shard."""
        return [j for j in range(self.n_shards) if self.is_finished(j)]

    def pending_shards(self, shard: tuple[int, int] = (0, 1)) -> list[int]:
        """Shards owned by worker ``shard = (i, n)`` that are not finished yet."""
        return [j for j in owned_shards(self.n_shards, shard) if not self.is_finished(j)]

    def write_shard(
        self, j: int, ids: list[str], array: np.ndarray, skipped: Mapping[str, str] | None = None
    ) -> None:
        """Write shard ``j`` atomically: the array, then its sidecar.

        Args:
            j: shard number.
            ids: the ids of the rows of ``array`` (in store order).
            array: float32 ``(len(ids), C, T)``.
            skipped: ids of this shard that could not be read, with the reason.

        Raises:
            ValueError: if the ids, skipped ids and the shard's ids do not add up, or the array's
                shape or dtype is wrong.
        """
        skipped = dict(skipped or {})
        expected = self.shard_ids(j)
        kept_expected = [i for i in expected if i not in skipped]
        if list(ids) != kept_expected or not set(skipped) <= set(expected):
            raise ValueError(
                f"shard {j} of {self.path} must hold ids {expected[:3]}... minus the skipped ones "
                f"in store order; got {list(ids)[:3]}... and skipped {sorted(skipped)[:3]}"
            )
        array = np.asarray(array)
        c, t = self.shape
        if array.shape != (len(ids), c, t):
            raise ValueError(
                f"shard {j} of {self.path}: array shape {array.shape} != {(len(ids), c, t)}"
            )
        if array.dtype != np.float32:
            raise ValueError(f"shard {j} of {self.path}: dtype {array.dtype}, expected float32")
        data = npy_bytes(array)
        atomic_write_bytes(self.shard_file(j), data)
        meta = {
            "shard": j,
            "config_hash": self.config_hash,
            "ids": list(ids),
            "skipped": dict(sorted(skipped.items())),
            "npy_sha256": sha256_bytes(data),
            "rows": len(ids),
        }
        atomic_write_json(self.shard_meta_file(j), meta)

    def read_shard_meta(self, j: int) -> dict[str, Any]:
        """The sidecar of a finished shard.

        Raises:
            StoreError: if the shard is not finished or belongs to another configuration.
        """
        path = self.shard_meta_file(j)
        if not path.is_file():
            raise StoreError(
                f"shard {j} of {self.path} is not finished; rerun the extraction to resume it"
            )
        meta = json.loads(path.read_text())
        if meta.get("config_hash") != self.config_hash:
            raise StoreError(
                f"{path} was written by another configuration (hash {meta.get('config_hash')}, "
                f"store {self.config_hash}); delete {self.path} and extract again"
            )
        return meta

    def read_shard(self, j: int, verify: bool = False) -> tuple[list[str], np.ndarray]:
        """Ids and array ``(rows, C, T)`` of a finished shard.

        Args:
            j: shard number.
            verify: also check the array file's sha256 against its sidecar.

        Raises:
            StoreError: for an unfinished, missing or corrupt shard.
        """
        meta = self.read_shard_meta(j)
        path = self.shard_file(j)
        if not path.is_file():
            raise StoreError(
                f"{path} is missing although its sidecar exists; delete "
                f"{self.shard_meta_file(j)} and rerun the extraction to recompute shard {j}"
            )
        if verify and sha256_file(path) != meta["npy_sha256"]:
            raise StoreError(
                f"{path} does not match the checksum in its sidecar (corrupt file); delete "
                f"{path} and {self.shard_meta_file(j)} and rerun the extraction"
            )
        array = np.load(path, allow_pickle=False)
        if array.shape != (meta["rows"], *self.shape) or array.dtype != np.float32:
            raise StoreError(
                f"{path} holds {array.dtype} {array.shape}, expected float32 "
                f"{(meta['rows'], *self.shape)}; delete it and its sidecar and rerun"
            )
        return list(meta["ids"]), array

    # ------------------------------------------------------------------ finalisation
    def finalize(self, verify: bool = True) -> bool:
        """Validate every shard and mark the manifest complete, once all shards are finished.

        Safe to call from several processes: the manifest it writes is a deterministic function
        of the shards.

        Args:
            verify: check every shard's checksum and ids.

        Returns:
            ``True`` if the store is complete (now or before), ``False`` if shards are missing.

        Raises:
            StoreError: for a corrupt shard.
        """
        if self.complete:
            return True
        if len(self.finished_shards()) < self.n_shards:
            return False
        skipped: dict[str, str] = {}
        for j in range(self.n_shards):
            meta = self.read_shard_meta(j)
            expected = self.shard_ids(j)
            kept = [i for i in expected if i not in meta["skipped"]]
            if meta["ids"] != kept or not set(meta["skipped"]) <= set(expected):
                raise StoreError(
                    f"shard {j} of {self.path} lists ids that do not match the manifest; delete "
                    f"{self.shard_file(j)} and its sidecar and rerun the extraction"
                )
            if verify:
                self.read_shard(j, verify=True)
            skipped.update(meta["skipped"])
        manifest = dict(self.manifest)
        manifest["complete"] = True
        manifest["skipped"] = dict(sorted(skipped.items()))
        manifest["n_embeddings"] = len(manifest["ids"]) - len(skipped)
        atomic_write_json(self.manifest_path, manifest)
        self._manifest = manifest
        return True

    @property
    def skipped(self) -> dict[str, str]:
        """Ids that could not be read, with the reason (from finished shards)."""
        if self.complete:
            return dict(self.manifest["skipped"])
        out: dict[str, str] = {}
        for j in self.finished_shards():
            out.update(self.read_shard_meta(j)["skipped"])
        return out

    @property
    def ids(self) -> list[str]:
        """Ids that have an embedding (finished shards, skipped ids left out), in store order."""
        out: list[str] = []
        for j in self.finished_shards():
            out.extend(self.read_shard_meta(j)["ids"])
        return out

    # ------------------------------------------------------------------ reading
    def read(
        self, ids: list[str] | None = None, *, allow_partial: bool = False
    ) -> tuple[list[str], np.ndarray]:
        """Embeddings as float32 ``(n, C, T)``.

        Args:
            ids: ids to return, in this order; ``None``: every id with an embedding, store order.
            allow_partial: with ``ids=None``, return what finished shards hold even when the
                store is incomplete (otherwise that is an error).

        Returns:
            ``(ids, array)`` with rows in the requested (or store) order.

        Raises:
            StoreError: for an incomplete store (``ids=None`` without ``allow_partial``), for ids
                the store does not hold (the message names them and why), or corrupt shards.
        """
        if ids is None:
            if not self.complete and not allow_partial and not self.finalize(verify=False):
                missing = [j for j in range(self.n_shards) if not self.is_finished(j)]
                raise StoreError(
                    f"embedding store {self.path} is incomplete: {len(missing)} of "
                    f"{self.n_shards} shards missing (e.g. {missing[:5]}); rerun the extraction "
                    "to resume it, or pass allow_partial=True"
                )
            parts = [self.read_shard(j) for j in self.finished_shards()]
            out_ids = [i for p in parts for i in p[0]]
            c, t = self.shape
            arrays = [p[1] for p in parts]
            array = np.concatenate(arrays) if arrays else np.zeros((0, c, t), np.float32)
            return out_ids, array
        ids = list(ids)
        position = {i: k for k, i in enumerate(self.all_ids)}
        unknown = [i for i in ids if i not in position]
        if unknown:
            raise StoreError(
                f"{len(unknown)} id(s) not in embedding store {self.path} (e.g. {unknown[:3]}); "
                f"it holds {len(position)} ids of dataset "
                f"{self.manifest.get('info', {}).get('data_root', '?')}; extract them "
                "into a store for that dataset"
            )
        need = sorted({shard_of(position[i], self.shard_size) for i in ids})
        unfinished = [j for j in need if not self.is_finished(j)]
        if unfinished:
            raise StoreError(
                f"embedding store {self.path} has not finished shards {unfinished[:5]} that hold "
                "requested ids; rerun the extraction to resume it"
            )
        rows: dict[str, np.ndarray] = {}
        skipped: dict[str, str] = {}
        for j in need:
            shard_ids, array = self.read_shard(j)
            rows.update(zip(shard_ids, array))
            skipped.update(self.read_shard_meta(j)["skipped"])
        bad = [i for i in ids if i in skipped]
        if bad:
            raise StoreError(
                f"{len(bad)} requested id(s) were skipped during extraction into {self.path} "
                f"(e.g. {bad[0]}: {skipped[bad[0]]}); drop them or fix the data and re-extract"
            )
        c, t = self.shape
        if not ids:
            return [], np.zeros((0, c, t), np.float32)
        return ids, np.stack([rows[i] for i in ids]).astype(np.float32, copy=False)

    # ------------------------------------------------------------------ fitted state
    @property
    def fitted_state_path(self) -> Path:
        """``<store>/fitted_state.pt``."""
        return self.path / FITTED_STATE

    def save_fitted_state(self, state: dict[str, Any]) -> bool:
        """Save a baseline's fitted state unless one exists already.

        Created exclusively, so that concurrent workers all end up using the first state written.

        Returns:
            ``True`` if this call wrote it, ``False`` if a state was already there (load that one).
        """
        import io

        import torch

        buf = io.BytesIO()
        torch.save(state, buf)
        return exclusive_write_bytes(self.fitted_state_path, buf.getvalue())

    def load_fitted_state(self) -> dict[str, Any] | None:
        """The saved fitted state, or ``None`` if none was saved."""
        import torch

        if not self.fitted_state_path.is_file():
            return None
        return torch.load(self.fitted_state_path, map_location="cpu", weights_only=True)
