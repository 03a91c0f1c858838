"""Seeded randomness for simulations, with no global state.

One :class:`Generator`, made from the run's seed, is passed down.  It hands
out independent :class:`Stream` s keyed by case number and purpose (a
counter-based generator: splitmix64 over the key), so a draw depends only on
(seed, case, purpose, n) and never on which worker ran the case, in what
order, or under which authority.  That is what lets every authority see the
same children with the same practice timings, and a run repeat byte for byte.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
TO_UNIT = 1.0 / (1 << 53)


def _mix(z: int) -> int:
    z = (z + GOLDEN) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


class Stream:
    """Uniform draws for one (case, purpose): ``stream.u(n)`` is the n-th."""

    __slots__ = ("key",)

    def __init__(self, key: int):
        self.key = key

    def u(self, n: int = 0) -> float:
        # splitmix64, inlined: this is the simulation's hottest small function.
        z = ((self.key ^ ((n * GOLDEN) & MASK)) + GOLDEN) & MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return ((z ^ (z >> 31)) >> 11) * TO_UNIT


    def u4(self, n: int = 0) -> tuple[float, float, float, float]:
        """Four coarser uniforms (16 bits each) from one draw, for many small Bernoulli trials."""
        z = ((self.key ^ ((n * GOLDEN) & MASK)) + GOLDEN) & MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        return ((z & 0xFFFF) / 65536, ((z >> 16) & 0xFFFF) / 65536, ((z >> 32) & 0xFFFF) / 65536, (z >> 48) / 65536)


class Generator:
    """The run's one seeded generator."""

    def __init__(self, seed: int):
        self.seed = seed
        self._root = _mix(seed & MASK)

    def stream(self, case_no: int, purpose: int) -> Stream:
        return Stream(_mix(self._root ^ _mix((case_no << 8) | purpose)))


class Choice:
    """A categorical distribution: ``pick(u)`` maps a uniform draw to a key."""

    __slots__ = ("keys", "cumulative")

    def __init__(self, weights: dict):
        items = [(k, w) for k, w in weights.items() if w > 0]
        total = sum(w for _, w in items)
        self.keys = [k for k, _ in items]
        self.cumulative = [c / total for c in accumulate(w for _, w in items)]

    def pick(self, u: float):
        return self.keys[min(bisect_right(self.cumulative, u), len(self.keys) - 1)]


class Banded:
    """Integer ranges with shares: a range by share (``u1``), then a value in it (``u2``)."""

    __slots__ = ("choice", "_keys", "_cumulative", "_last")

    def __init__(self, bands):
        self.choice = Choice({(low, high): share for low, high, share in bands})
        self._keys, self._cumulative = self.choice.keys, self.choice.cumulative
        self._last = len(self._keys) - 1

    def draw(self, u1: float, u2: float) -> int:
        # self.choice.pick(u1), inlined: this runs a few times for every case.
        i = bisect_right(self._cumulative, u1)
        low, high = self._keys[i if i < self._last else self._last]
        return low + int(u2 * (high - low + 1))
