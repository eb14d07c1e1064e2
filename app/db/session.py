"""The per-request session: the transaction boundary of every request."""

from __future__ import annotations

from collections.abc import AsyncIterator
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
