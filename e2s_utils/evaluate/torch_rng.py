"""torch's CPU random numbers without torch: the probe's draws, bit for bit, from NumPy.

``torch.Generator`` on the CPU is a Mersenne Twister (MT19937) seeded like the reference
``init_genrand`` with the low 32 bits of the seed, which is how NumPy's ``MT19937`` seeds itself in
its legacy mode, so both produce the same raw 32-bit words. The probe takes three kinds of draws
from it, each replayed here from the raw words:

* ``randperm(n)`` (``n < 2**24``): the identity, then for ``i = 0 .. n - 2`` a swap of
  ``i`` with ``i + word % (n - i)``, one word per swap;
* ``tensor.uniform_(lo, hi)`` in float32: ``(word & (2**24 - 1)) / 2**24 * (hi - lo) + lo`` in
  double, ``lo``, ``hi`` and ``hi - lo`` rounded to float32 first, one word per value;
* an int64 ``random_()`` (the data loader's unused base seed): two words.

Written by hand because torch itself costs a second and a half of start-up to import, which is
most of an ``e2s evaluate`` run; ``tests/test_evaluate_torch_rng.py`` checks every draw against
torch's own.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Largest ``n`` whose ``randperm`` takes one 32-bit word per swap (replayed here).
RANDPERM_LIMIT = 2**24


@njit(nogil=True, cache=True)
def _fisher_yates(words: np.ndarray, n: int, out: np.ndarray) -> None:  # pragma: no cover
    """``randperm(n)`` into ``out`` from ``n - 1`` raw words (compiled; covered via callers)."""
    for i in range(n):
        out[i] = i
    for i in range(n - 1):
        z = i + np.int64(words[i] % np.uint64(n - i))
        out[i], out[z] = out[z], out[i]


@njit(nogil=True, cache=True)
def _loader_epochs(
    words: np.ndarray, train_out: np.ndarray, test_out: np.ndarray
) -> None:  # pragma: no cover  (compiled; covered via TorchCPUGenerator.loader_epochs)
    """Every epoch's (skip 2, ``randperm(n_train)``, skip 2, ``randperm(n_test)``) from one run
    of raw words."""
    at = 0
    for e in range(train_out.shape[0]):
        for out in (train_out[e], test_out[e]):
            at += 2
            n = out.shape[0]
            if n > 0:
                _fisher_yates(words[at : at + n - 1], n, out)
                at += n - 1


class TorchCPUGenerator:
    """The draws of ``torch.Generator().manual_seed(seed)`` that the probe uses, in order."""

    def __init__(self, seed: int) -> None:
        self._bits = np.random.MT19937(0)
        self._bits._legacy_seeding(int(seed) & 0xFFFFFFFF)

    def words(self, count: int) -> np.ndarray:
        """The next ``count`` raw 32-bit words (uint64 array)."""
        return self._bits.random_raw(count)

    def skip(self, count: int) -> None:
        """Consume ``count`` words (an int64 ``random_()`` takes two)."""
        self._bits.random_raw(count)

    def randperm(self, n: int, out: np.ndarray | None = None) -> np.ndarray:
        """``torch.randperm(n, generator=...)`` as int64.

        Raises:
            ValueError: for ``n >= 2**24`` (torch draws those differently).
        """
        if n >= RANDPERM_LIMIT:
            raise ValueError(f"randperm replay is for n < {RANDPERM_LIMIT}, got {n}")
        out = np.empty(n, dtype=np.int64) if out is None else out
        if n > 0:
            _fisher_yates(self.words(n - 1), n, out)
        return out

    def loader_epochs(self, train_out: np.ndarray, test_out: np.ndarray) -> None:
        """What iterating a shuffled training loader, then a test loader, draws each epoch.

        Per epoch ``e``: the training loader's base seed (an int64 ``random_()``, unused), its
        sampler's ``randperm(n_train)`` into ``train_out[e]``, then the same two draws of the test
        loader into ``test_out[e]``. One call for all epochs (as many calls of :meth:`skip` and
        :meth:`randperm` give the same numbers).

        Args:
            train_out: ``(epochs, n_train)`` int64, filled.
            test_out: ``(epochs, n_test)`` int64, filled.
        """
        epochs, n_train = train_out.shape
        n_test = test_out.shape[1]
        if max(n_train, n_test) >= RANDPERM_LIMIT:
            raise ValueError(f"randperm replay is for n < {RANDPERM_LIMIT}")
        per_epoch = 4 + max(n_train - 1, 0) + max(n_test - 1, 0)
        _loader_epochs(self.words(epochs * per_epoch), train_out, test_out)

    def uniform(self, count: int, lo: float, hi: float) -> np.ndarray:
        """``torch.empty(count).uniform_(lo, hi, generator=...)`` (float32)."""
        lo32, hi32 = np.float32(lo), np.float32(hi)
        width = float(hi32 - lo32)  # float32 difference, as torch takes it
        unit = (self.words(count) & np.uint64(2**24 - 1)).astype(np.float64) / 2**24
        if lo32 == hi32:  # torch fills the bound itself (keeping the sign of a zero)
            return np.full(count, lo32, dtype=np.float32)
        return (unit * width + float(lo32)).astype(np.float32)

    def linear_init(self, d: int) -> np.ndarray:
        """``nn.Linear(d, 1)``'s weight row then bias, as drawn at construction (float32).

        The weight is ``kaiming_uniform_(a=sqrt(5))``: bound ``sqrt(3) * sqrt(2 / (1 + 5)) /
        sqrt(d)``; the bias ``uniform_(-1 / sqrt(d), 1 / sqrt(d))``.
        """
        out = np.zeros(d + 1, dtype=np.float32)
        if d > 0:  # torch leaves a zero-element weight alone (no draw)
            gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
            bound = math.sqrt(3.0) * (gain / math.sqrt(d))
            out[:d] = self.uniform(d, -bound, bound)
        bias = 1.0 / math.sqrt(d) if d > 0 else 0.0
        out[d:] = self.uniform(1, -bias, bias)
        return out
