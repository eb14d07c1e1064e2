"""Transactions, owned here and nowhere else.

- `SessionDep`: one session per request, committed when the handler succeeded (before the
  response is sent), rolled back otherwise.
- `end_transaction`: commits what a request has done so far and gives its connection back to
  the pool, before a slow outside call (a provider). The next statement opens a new transaction:
  "read transaction → call → write transaction", with no pooled connection held across the call.
- `transaction`: a short transaction of its own, committed on leaving, for work that must stick
  whatever the request does next (a lease, a counter) or that runs outside a request (jobs, CLI).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request: commit when the handler succeeded, roll back otherwise."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


# `scope="function"` runs the commit before the response is sent, so a failed commit
# can never follow a 2xx (FastAPI >= 0.121).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def end_transaction(session: AsyncSession) -> None:
    """Commit the request's work so far and release its connection before a slow call."""
    await session.commit()


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session in a short transaction of its own: committed on leaving, rolled back on error."""
    async with sessionmaker() as session, session.begin():
        yield session
