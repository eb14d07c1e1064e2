"""Per-team cap on provider-calling requests in flight (PROVIDER_CALLS_PER_TEAM): over it → 429.

The count is per process, like the two resources it protects (the database pool and the shared
outbound client's pool both live in the worker): with N uvicorn workers a team may have up to
N x the cap in flight across the service. No await happens between the check and the count, so a
plain dict is race-free on the event loop.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from app.web.errors import Throttled


class TeamSlots:
    def __init__(self, per_team: int, retry_after_seconds: float) -> None:
        self.per_team = per_team
        self.retry_after = max(1, math.ceil(retry_after_seconds))
        self._busy: Counter[int] = Counter()

    def in_use(self, team_id: int) -> int:
        return self._busy[team_id]

    @contextmanager
    def hold(self, team_id: int) -> Iterator[None]:
        """One of the team's slots for the block; Throttled (429) when all are taken."""
        if self._busy[team_id] >= self.per_team:
            raise Throttled(
                self.retry_after,
                f"Too many provider calls in progress for this team (at most {self.per_team} "
                f"at once). Expected available in {self.retry_after} seconds.",
            )
        self._busy[team_id] += 1
        try:
            yield
        finally:
            self._busy[team_id] -= 1
            if self._busy[team_id] <= 0:
                del self._busy[team_id]
