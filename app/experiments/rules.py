"""Pure experiment rules: the verdict tallies of a page of experiments, and one evaluation's
row of a comparison (pass rates with Wilson 95 % intervals, the paired view, McNemar)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from app.experiments.stats import mcnemar_exact, wilson_interval

VERDICTS = ("pass", "fail", "na", "error")
Tallies = dict[tuple[uuid.UUID, uuid.UUID], dict[str, int]]


def tallies(rows: Iterable[Any]) -> Tallies:
    """(experiment, evaluation) → verdict → count, every verdict present (0 when none)."""
    counts: Tallies = defaultdict(lambda: dict.fromkeys(VERDICTS, 0))
    for experiment_id, evaluation_id, verdict, count in rows:
        counts[(experiment_id, evaluation_id)][verdict] = count
    return counts


def usage(rows: Iterable[Any]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """experiment → its per-provider ledger totals."""
    found: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for experiment_id, provider, calls, tokens_in, tokens_out in rows:
        found[experiment_id].append(
            {
                "provider": provider,
                "calls": calls,
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
            }
        )
    return found


def compared(
    evaluation_id: uuid.UUID,
    name: str | None,
    base_counts: dict[tuple[uuid.UUID, str], int],
    head_counts: dict[tuple[uuid.UUID, str], int],
    table: dict[tuple[str, str], int],
) -> dict[str, Any]:
    """One evaluation's comparison row; `table` counts (base verdict, head verdict) pairs."""
    sides = []
    for counts in (base_counts, head_counts):
        passes = counts.get((evaluation_id, "pass"), 0)
        judged = passes + counts.get((evaluation_id, "fail"), 0)
        sides.append((passes / judged if judged else None, wilson_interval(passes, judged), judged))
    regressed, improved = table.get(("pass", "fail"), 0), table.get(("fail", "pass"), 0)
    stayed = table.get(("pass", "pass"), 0) + table.get(("fail", "fail"), 0)
    paired = regressed + improved + stayed
    return {
        "evaluation_id": evaluation_id,
        "name": name,
        "base_pass_rate": sides[0][0],
        "base_ci95": sides[0][1],
        "base_judged": sides[0][2],
        "head_pass_rate": sides[1][0],
        "head_ci95": sides[1][1],
        "head_judged": sides[1][2],
        "paired": paired,
        "paired_difference": (improved - regressed) / paired if paired else None,
        "regressed": regressed,
        "improved": improved,
        "stayed": stayed,
        "p_value": mcnemar_exact(regressed, improved),
    }
