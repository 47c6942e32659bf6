"""A fast reader for the common NeuCo-Bench embedding CSV, without pandas (numba-compiled).

:func:`read_embeddings_fast` reads the well-formed layout that :func:`e2s_utils.store.csv.
write_embeddings_csv` and most submissions write (header ``id,0,...,D-1``, unquoted ids, plain
decimal numbers) and returns ``None`` for anything else, so that the caller falls back to the
pandas reader (:func:`~e2s_utils.store.csv.read_embeddings_csv`), which names the problem. On every
file it accepts it returns the same ids and the same float32 bits as the pandas reader.

Why by hand: importing pandas alone costs about 0.4 s, and no other library parses this layout
correctly rounded in well under that (``np.loadtxt`` takes as long as pandas). Why the care with
rounding: pandas (2.x) does not parse floats correctly rounded; it keeps 17 digits (leading zeros
included), accumulates them in a double and scales by a table of powers of ten. Where that is
exact (at most 17 digits, a mantissa below 2**53, a power of ten within 1e±22: Clinger's fast path)
it agrees with a correctly rounded parse, and that covers every ``%.9g`` value of magnitude at
least 1e-14. Any other cell is parsed afterwards with Python's ``float`` (correctly rounded) and
kept only if pandas' result, within a few units in the last place of the 17 digits it kept, must
round to the same float32; otherwise the whole file falls back.

Cost: a 2,000 x 1,024 file reads in 30-60 ms. numba's import and its first call in a process
(loading the cached machine code) cost 0.3-0.5 s, shared with the compiled probe that follows in
``e2s evaluate``; the first call ever compiles (about 1.2 s, cached in ``__pycache__``).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np

from e2s_utils.data.labels import normalize_id
from e2s_utils.runtime import cpu_threads

#: Ids pandas reads as missing (``dtype=str`` keeps them as NaN): such a file falls back.
_NA_IDS = frozenset(
    "#N/A,#N/A N/A,#NA,-1.#IND,-1.#QNAN,-NaN,-nan,1.#IND,1.#QNAN,<NA>,N/A,NA,NULL,NaN,None,n/a,"
    "nan,null".split(",")
)
_POW10 = np.array([float(10**k) for k in range(23)])  # exact doubles up to 1e22
_MAX_SLOW = 4096  # cells outside the fast path, per chunk, before the file falls back
_NUMBER = re.compile(rb"([+-]?)(\d*)\.?(\d*)(?:[eE]([+-]?\d+))?")
_DIGIT_LO, _DIGIT_HI, _COMMA, _LF, _CR = 48, 57, 44, 10, 13


@numba.njit(nogil=True, cache=True, inline="always")
def _parse_cell(buf, pos, stop, pow10):
    """One number at ``buf[pos:]``: ``(end, value, is_int, status)``, status 0 fast, 1 slow, -1 bad."""
    neg = False
    if pos < stop and (buf[pos] == 45 or buf[pos] == 43):  # '-' or '+'
        neg = buf[pos] == 45
        pos += 1
    mant = 0
    ndig = 0
    dot = -1  # digits before the '.', -1 for none
    while pos < stop:
        c = buf[pos]
        if _DIGIT_LO <= c <= _DIGIT_HI:
            if ndig < 18:
                mant = mant * 10 + (c - 48)
            ndig += 1
        elif c == 46 and dot < 0:
            dot = ndig
        else:
            break
        pos += 1
    is_int = dot < 0
    nfrac = 0 if is_int else ndig - dot
    if ndig == 0 or ndig - nfrac > 19:  # pandas reads a whole part past 2**64 as text
        return pos, 0.0, is_int, -1
    exp = 0
    if pos < stop and (buf[pos] | 32) == 101:  # 'e' or 'E'
        is_int = False
        pos += 1
        eneg = False
        if pos < stop and (buf[pos] == 45 or buf[pos] == 43):
            eneg = buf[pos] == 45
            pos += 1
        edig = 0
        while pos < stop and _DIGIT_LO <= buf[pos] <= _DIGIT_HI:
            if exp < 100000:
                exp = exp * 10 + (buf[pos] - 48)
            edig += 1
            pos += 1
        if edig == 0:
            return pos, 0.0, is_int, -1
        if eneg:
            exp = -exp
    if is_int and ndig > 15:  # pandas reads an all-integer column as int64: not handled here
        return pos, 0.0, is_int, -1
    exp -= nfrac
    if ndig > 17 or mant >= 2**53 or exp < -22 or exp > 22:
        return pos, 0.0, is_int, 1
    value = float(mant) * pow10[exp] if exp >= 0 else float(mant) / pow10[-exp]
    return pos, -value if neg else value, is_int, 0


@numba.njit(nogil=True, cache=True)
def _parse_chunk(buf, start, stop, row0, row_stop, out, ids, slow, nonint, pow10):
    """Parse the lines of ``buf[start:stop]`` into rows ``row0:row_stop`` of ``out``.

    Records each id's byte range in ``ids``, each slow cell as ``(row, col, start, end)`` in
    ``slow`` and each column holding a non-integer cell in ``nonint``. Returns the number of slow
    cells, or -1 for anything outside the accepted layout.
    """
    ncol = nonint.shape[0]
    pos = start
    row = row0
    nslow = 0
    while pos < stop:
        if row >= row_stop:
            return -1
        first = pos
        while pos < stop and buf[pos] != _COMMA:
            c = buf[pos]
            if c == _LF or c == _CR or c == 34 or c == 0:  # line end, quote or NUL in the id
                return -1
            pos += 1
        if pos == stop or pos == first:
            return -1
        ids[row, 0] = first
        ids[row, 1] = pos
        for col in range(ncol):
            cell = pos + 1
            pos, value, is_int, status = _parse_cell(buf, cell, stop, pow10)
            if status < 0:
                return -1
            if status == 1:
                if nslow == slow.shape[0]:
                    return -1
                slow[nslow, 0], slow[nslow, 1] = row, col
                slow[nslow, 2], slow[nslow, 3] = cell, pos
                nslow += 1
                value = 0.0
            if not is_int:
                nonint[col] = 1
            out[row, col] = np.float32(value)
            if col < ncol - 1 and (pos >= stop or buf[pos] != _COMMA):
                return -1
        if pos < stop:
            if buf[pos] == _CR and pos + 1 < stop:
                pos += 1
            if buf[pos] != _LF:
                return -1
            pos += 1
        row += 1
    return nslow if row == row_stop else -1


def _slow_value(cell: bytes) -> np.float32 | None:
    """A cell outside the fast path: its correctly rounded float32, or None when pandas' double
    (the 17 digits it keeps, a few units in the last place off) might round differently."""
    match = _NUMBER.fullmatch(cell)
    if match is None:
        return None
    sign, whole, frac, exp = match.groups()
    digits = whole + frac
    kept = digits[:17] or b"0"
    exp10 = int(exp or 0) + len(whole) - min(len(digits), 17)
    value, truncated = float(cell), float(sign + kept + b"e%d" % exp10)
    if not 1e-290 < abs(value) < 3.4e38:  # underflow, overflow: pandas' edge cases
        return None
    pair = np.array([value, truncated], np.float32)
    if pair.view(np.uint32)[0] != pair.view(np.uint32)[1]:
        return None
    f32 = pair[0]  # finite, below the largest float32: both neighbours are finite
    lo = float(np.nextafter(f32, np.float32(-np.inf)))
    hi = float(np.nextafter(f32, np.float32(np.inf)))
    margin = min(abs(truncated - (float(f32) + lo) / 2), abs(truncated - (float(f32) + hi) / 2))
    return f32 if margin > abs(truncated) * 2.0**-45 else None


def _chunks(data: bytes, start: int, stop: int, threads: int) -> list[tuple[int, int, int]]:
    """Split ``data[start:stop]`` at line ends into ``(start, stop, rows)`` pieces."""
    cuts = [start]
    for k in range(1, threads):
        cut = data.find(b"\n", max(cuts[-1], start + (stop - start) * k // threads), stop)
        if cut < 0:
            break
        cuts.append(cut + 1)
    cuts.append(stop)
    buf = np.frombuffer(data, np.uint8)
    pieces = [
        (a, b, int(np.count_nonzero(buf[a:b] == _LF))) for a, b in zip(cuts, cuts[1:]) if b > a
    ]
    if pieces:  # the last line has no line end (trailing ones were cut off)
        a, b, rows = pieces[-1]
        pieces[-1] = (a, b, rows + 1)
    return pieces


def _header_dim(header: bytes) -> int | None:
    """``D`` for a header ``id,0,1,...,D-1``, else None."""
    names = header.removesuffix(b"\r").split(b",")
    expected = [b"id"] + [str(i).encode() for i in range(len(names) - 1)]
    return len(names) - 1 if len(names) > 1 and names == expected else None


def _ids(data: bytes, bounds: np.ndarray) -> list[str] | None:
    """The ids as ``read_embeddings_csv`` normalises them, or None (missing, undecodable, repeated)."""
    ids = []
    for a, b in bounds.tolist():
        try:
            raw = data[a:b].decode()
        except UnicodeDecodeError:
            return None
        if raw in _NA_IDS:
            return None
        ids.append(normalize_id(raw))
    return ids if len(set(ids)) == len(ids) else None


def read_embeddings_fast(
    path: Path | str, embedding_dim: int | None = None, threads: int | None = None
) -> tuple[list[str], np.ndarray] | None:
    """Read a well-formed NeuCo-Bench embedding CSV fast, or return None to fall back.

    Args:
        path: the CSV.
        embedding_dim: expected dimension: fewer columns are zero-padded; more return None (the
            fallback reader raises the error).
        threads: contiguous line ranges parsed in parallel (the parser releases the GIL);
            default :func:`~e2s_utils.runtime.cpu_threads`.

    Returns:
        ``(ids, X)`` bit for bit as pandas in :func:`~e2s_utils.store.csv.read_embeddings_csv`
        reads them, or None for any file outside the layout (see the module docstring): the caller
        then reads it with pandas, which also reports every error.
    """
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    head = data.find(b"\n")
    dim = _header_dim(data[:head]) if head > 0 else None
    if dim is None or (embedding_dim is not None and dim > embedding_dim):
        return None
    stop = len(data)
    while stop > head and data[stop - 1] in (_LF, _CR):  # trailing line ends (no copy of data)
        stop -= 1
    pieces = _chunks(data, head + 1, stop, cpu_threads(threads))
    rows = sum(p[2] for p in pieces)
    if rows == 0:
        return None
    buf = np.frombuffer(data, np.uint8)
    out = np.empty((rows, max(dim, embedding_dim or 0)), np.float32)
    out[:, dim:] = 0.0
    bounds = np.empty((rows, 2), np.int64)
    slow = [np.empty((_MAX_SLOW, 4), np.int64) for _ in pieces]
    nonint = [np.zeros(dim, np.uint8) for _ in pieces]
    firsts = np.cumsum([0] + [p[2] for p in pieces])
    args = [
        (buf, a, b, int(r0), int(r0) + n, out, bounds, s, m, _POW10)
        for (a, b, n), r0, s, m in zip(pieces, firsts, slow, nonint)
    ]
    with ThreadPoolExecutor(len(args)) as pool:
        counts = list(pool.map(lambda a: _parse_chunk(*a), args))
    if min(counts) < 0:
        return None
    for cells, count in zip(slow, counts):
        for row, col, a, b in cells[:count].tolist():
            value = _slow_value(data[a:b])
            if value is None:
                return None
            out[row, col] = value
    int_cols = np.flatnonzero(~np.any(nonint, axis=0))
    if len(int_cols):  # pandas reads these as int64: a "-0" there is +0
        out[:, int_cols] += np.float32(0.0)
    ids = _ids(data, bounds)
    return None if ids is None else (ids, out)
