"""Statistics for comparing two experiments: Wilson intervals and McNemar's exact test."""

from __future__ import annotations

import math

Z_95 = 1.959963984540054  # two-sided 95 %


def wilson_interval(passes: int, total: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval for a pass rate (None when nothing was judged)."""
    if total <= 0:
        return None
    rate = passes / total
    denominator = 1 + z * z / total
    centre = (rate + z * z / (2 * total)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(regressed: int, improved: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test with p = 1/2 on the discordant pairs.

    p = min(1, 2 * P[X <= min(b, c)]) for X ~ Binomial(b + c, 1/2); 1.0 with no discordant
    pairs. Computed exactly with integers, e.g. b = 8, c = 2 gives 0.109375.
    """
    n = regressed + improved
    if n == 0:
        return 1.0
    k = min(regressed, improved)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, float(2 * tail / 2**n))
