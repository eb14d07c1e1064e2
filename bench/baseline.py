"""The bare baseline: plain SQL straight on asyncpg behind bare Starlette routes.

It answers the benchmarked requests like the service (same JSON, same `next` links). Offset
pages of items run the plainest SQL that answers them, written here by hand: one `LEFT JOIN …
ORDER BY created_at DESC, id LIMIT … OFFSET …` and a separate `count(*)`, rows rendered in
Python. Everything else runs the service's own statement objects (`app.auth.repository`,
`app.datasets.repository`), compiled once at import by the service's `app.db.driver.Statement`:
the one authentication statement, the once-a-minute `last_used_at` update, the keyset pages,
the retrieve, the search and the `INSERT … SELECT` into a live dataset. What the baseline lacks
is the framework: no dependency injection, no SQLAlchemy session or pool, no validation layer,
no middleware, no per-request logging.

Run it with uvicorn: `BASELINE_DSN=postgresql://… uvicorn bench.baseline:app --workers 2`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.auth import repository as identity_sql
from app.datasets import repository as service_sql

ITEM_SIGNATURE = "-created_at,id"


ITEMS = service_sql._item_list(True)
# Offset pages: the plainest SQL that answers the page, written by hand rather than taken from
# the service, so that the service's own statement is measured against what a straightforward
# implementation does (a copy of ours would hide a slow statement: both sides would share it).
PLAIN_ITEM_PAGE = """
SELECT i.id, i.dataset_id, i.input, i.output, i.metadata, i.ref_trace_id, i.ref_timestamp,
       i.ref_source_id, i.deleted, i.created_at, i.updated_at, i.team_id,
       u.id, u.uuid, u.distinct_id, u.first_name, u.last_name, u.email, u.is_email_verified,
       u.hedgehog_config, u.role_at_organization
FROM dataset_items i LEFT JOIN users u ON u.id = i.created_by_id
WHERE i.team_id = $1 AND i.dataset_id = $2 AND NOT i.deleted
  AND EXISTS (SELECT 1 FROM datasets d WHERE d.id = $2 AND d.team_id = $1 AND NOT d.deleted)
ORDER BY i.created_at DESC, i.id
LIMIT $3 OFFSET $4
"""
PLAIN_ITEM_COUNT = """
SELECT count(*) FROM dataset_items i
WHERE i.team_id = $1 AND i.dataset_id = $2 AND NOT i.deleted
  AND EXISTS (SELECT 1 FROM datasets d WHERE d.id = $2 AND d.team_id = $1 AND NOT d.deleted)
"""
ITEM_FIRST_KEYSET = ITEMS.first_keyset
ITEM_NEXT_KEYSET = ITEMS.next_keyset
ITEM_GET = service_sql._item_by_id()
DATASET_SEARCH = service_sql._dataset_list(("-created_at",), False, True).by_offset

CALLER = identity_sql.CALLER
TOUCH = identity_sql.TOUCH
ITEM_INSERT = service_sql._item_insert()
# CALLER's columns
KEY_ID, KEY_SCOPES, KEY_TEAMS, KEY_LAST_USED, TEAM_ID, IS_MEMBER, USER_AT = 0, 1, 2, 4, 6, 9, 10


def raw(value: str | None) -> orjson.Fragment | None:
    return None if value is None else orjson.Fragment(value)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def error(status: int, detail: str, attr: str | None = None) -> Response:
    kinds = {400: "validation_error", 401: "authentication_error", 403: "authentication_error"}
    body = {"type": kinds.get(status, "invalid_request"), "code": "error", "detail": detail}
    return json_response({**body, "attr": attr}, status)


def user(row: Any, at: int) -> dict[str, Any] | None:
    if row[at] is None:
        return None
    return {
        "id": row[at],
        "uuid": row[at + 1],
        "distinct_id": row[at + 2],
        "first_name": row[at + 3],
        "last_name": row[at + 4],
        "email": row[at + 5],
        "is_email_verified": row[at + 6],
        "hedgehog_config": raw(row[at + 7]),
        "role_at_organization": row[at + 8],
    }


def item(row: Any) -> dict[str, Any]:
    """A row of the service's item statements: ids, jsonb and timestamps already text."""
    return {
        "id": row[0],
        "dataset": row[1],
        "input": raw(row[2]),
        "output": raw(row[3]),
        "metadata": raw(row[4]),
        "ref_trace_id": row[5],
        "ref_timestamp": row[6],
        "ref_source_id": row[7],
        "deleted": row[8],
        "created_at": row[9],
        "updated_at": row[10],
        "created_by": user(row, 12),
        "team": row[11],
    }


def wire_time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def plain_item(row: Any) -> dict[str, Any]:
    """A row of `PLAIN_ITEM_PAGE`: asyncpg's own types (uuid, datetime, jsonb as text)."""
    creator = None
    if row[12] is not None:
        creator = {
            "id": row[12],
            "uuid": str(row[13]),
            "distinct_id": row[14],
            "first_name": row[15],
            "last_name": row[16],
            "email": row[17],
            "is_email_verified": row[18],
            "hedgehog_config": raw(row[19]),
            "role_at_organization": row[20],
        }
    return {
        "id": str(row[0]),
        "dataset": str(row[1]),
        "input": raw(row[2]),
        "output": raw(row[3]),
        "metadata": raw(row[4]),
        "ref_trace_id": row[5],
        "ref_timestamp": wire_time(row[6]),
        "ref_source_id": row[7],
        "deleted": row[8],
        "created_at": wire_time(row[9]),
        "updated_at": wire_time(row[10]),
        "created_by": creator,
        "team": row[11],
    }


def dataset(row: Any) -> dict[str, Any]:
    return {
        "id": row[0],
        "name": row[1],
        "description": row[2],
        "metadata": raw(row[3]),
        "created_at": row[4],
        "updated_at": row[5],
        "deleted": row[6],
        "created_by": user(row, 8),
        "team": row[7],
        "item_count": row[17],  # the service's sum of count shards (DATASET_SEARCH)
    }


class Denied(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


async def authenticate(
    request: Request, connection: asyncpg.Connection, write: bool
) -> tuple[Any, int]:
    """The caller row (its user from USER_AT) and the team id, once key, scope and team pass."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Denied(error(401, "Authentication credentials were not provided."))
    try:
        team_id = int(request.path_params["team"])
    except ValueError:
        team_id = 0
    digest = hashlib.sha256(token.encode()).hexdigest()
    key = await connection.fetchrow(
        CALLER.sql, *CALLER.args({"digest": digest, "team_id": team_id})
    )
    if key is None:
        raise Denied(error(401, "Invalid personal API key."))
    last_used, now = key[KEY_LAST_USED], dt.datetime.now(dt.UTC)
    if last_used is None or now - last_used >= identity_sql.LAST_USED_RESOLUTION:
        touch = identity_sql.touch_params(key[KEY_ID], now)
        await connection.execute(TOUCH.sql, *TOUCH.args(touch))
    scopes = set(key[KEY_SCOPES])
    needed = "dataset:write" if write else "dataset:read"
    if "*" not in scopes and needed not in scopes and "dataset:write" not in scopes:
        raise Denied(error(403, f"API key missing required scope '{needed}'"))
    if key[TEAM_ID] is None:
        raise Denied(error(404, "Project not found."))
    if not key[IS_MEMBER] or (key[KEY_TEAMS] and team_id not in key[KEY_TEAMS]):
        raise Denied(error(403, "You don't have access to the project."))
    return key, team_id


def url_with(request: Request, updates: dict[str, str | None]) -> str:
    base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in updates]
    items += [(k, v) for k, v in updates.items() if v is not None]
    return f"{base}?{urlencode(items)}" if items else base


def encode_cursor(created_at: str, item_id: str) -> str:
    """The service's token shape: the ordering, then the last row's values as on the wire."""
    token = orjson.dumps([ITEM_SIGNATURE, created_at, item_id])
    return base64.urlsafe_b64encode(token).decode("ascii").rstrip("=")


def decode_cursor(token: str) -> tuple[dt.datetime, uuid.UUID]:
    padded = token + "=" * (-len(token) % 4)
    signature, created_at, item_id = orjson.loads(base64.urlsafe_b64decode(padded))
    if signature != ITEM_SIGNATURE:
        raise ValueError("cursor")
    return dt.datetime.fromisoformat(created_at), uuid.UUID(item_id)


async def list_items(request: Request) -> Response:
    query = request.query_params
    async with request.app.state.pool.acquire() as connection:
        try:
            _, team_id = await authenticate(request, connection, write=False)
            dataset_id = uuid.UUID(query["dataset"])
            limit = min(int(query.get("limit") or 100), 1000)
            offset = int(query.get("offset") or 0)
            cursor = query.get("cursor")
        except Denied as denied:
            return denied.response
        except (KeyError, ValueError):
            return error(400, "Invalid query.")
        scope = {"team_id": team_id, "dataset_id": dataset_id}
        if cursor:
            try:
                created_at, after_id = decode_cursor(cursor)
            except ValueError:
                return error(400, "Invalid cursor.", "cursor")
            position = {"after_0": created_at, "after_1": after_id, "limit": limit + 1}
            rows = await connection.fetch(
                ITEM_NEXT_KEYSET.sql, *ITEM_NEXT_KEYSET.args({**scope, **position})
            )
        elif cursor is not None:  # the first keyset page; one extra row says if there is more
            args = ITEM_FIRST_KEYSET.args({**scope, "limit": limit + 1})
            rows = await connection.fetch(ITEM_FIRST_KEYSET.sql, *args)
        else:
            rows = await connection.fetch(PLAIN_ITEM_PAGE, team_id, dataset_id, limit, offset)
            count = await connection.fetchval(PLAIN_ITEM_COUNT, team_id, dataset_id)
    if cursor is None:
        results = [plain_item(row) for row in rows]
    else:
        count = rows[0][-1] if rows else 0  # the bench never asks for an empty page
        results = [item(row) for row in rows[:limit]]
    if cursor is not None:
        next_url = None
        if len(rows) > limit:
            last = rows[limit - 1]
            token = encode_cursor(last[9], last[0])
            next_url = url_with(request, {"limit": str(limit), "offset": None, "cursor": token})
        return json_response(
            {"count": count, "next": next_url, "previous": None, "results": results}
        )
    next_url = previous_url = None
    if offset + limit < count:
        next_url = url_with(request, {"limit": str(limit), "offset": str(offset + limit)})
    if offset > 0:
        back = max(0, offset - limit)
        previous_url = url_with(
            request, {"limit": str(limit), "offset": str(back) if back else None}
        )
    body = {"count": count, "next": next_url, "previous": previous_url, "results": results}
    return json_response(body)


async def retrieve_item(request: Request) -> Response:
    async with request.app.state.pool.acquire() as connection:
        try:
            _, team_id = await authenticate(request, connection, write=False)
            item_id = uuid.UUID(request.path_params["id"])
        except Denied as denied:
            return denied.response
        except ValueError:
            return error(404, "Not found.")
        row = await connection.fetchrow(
            ITEM_GET.sql, *ITEM_GET.args({"team_id": team_id, "id": item_id})
        )
    if row is None:
        return error(404, "Not found.")
    return json_response(item(row))


async def create_item(request: Request) -> Response:
    body = orjson.loads(await request.body())
    async with request.app.state.pool.acquire() as connection:
        try:
            key, team_id = await authenticate(request, connection, write=True)
            dataset_id = uuid.UUID(body["dataset"])
        except Denied as denied:
            return denied.response
        except (KeyError, ValueError, TypeError):
            return error(400, "This field is required.", "dataset")
        now = dt.datetime.now(dt.UTC)
        ref_ts = body.get("ref_timestamp")
        values = {
            name: orjson.dumps(body.get(name)).decode() for name in ("input", "output", "metadata")
        }
        values.update(
            id=uuid_v7(now),
            team_id=team_id,
            dataset_id=dataset_id,
            ref_trace_id=body.get("ref_trace_id"),
            ref_timestamp=None if ref_ts is None else dt.datetime.fromisoformat(ref_ts),
            ref_source_id=body.get("ref_source_id"),
            deleted=False,
            created_by_id=key[USER_AT],
            now=now,
        )
        row = await connection.fetchrow(ITEM_INSERT.sql, *ITEM_INSERT.args(values))
    if row is None:
        return error(400, f'Invalid pk "{dataset_id}" - object does not exist.', "dataset")
    return json_response(item(row), 201)  # the insert returns the item joined to its creator


async def list_datasets(request: Request) -> Response:
    query = request.query_params
    async with request.app.state.pool.acquire() as connection:
        try:
            _, team_id = await authenticate(request, connection, write=False)
            limit = min(int(query.get("limit") or 100), 1000)
            offset = int(query.get("offset") or 0)
        except Denied as denied:
            return denied.response
        except ValueError:
            return error(400, "Invalid query.")
        term = query.get("search", "").strip()
        pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        args = DATASET_SEARCH.args(
            {"team_id": team_id, "pattern": pattern, "limit": limit, "offset": offset}
        )
        rows = await connection.fetch(DATASET_SEARCH.sql, *args)
    count = rows[0][-1] if rows else 0
    next_url = None
    if offset + limit < count:
        next_url = url_with(request, {"limit": str(limit), "offset": str(offset + limit)})
    results = [dataset(row) for row in rows]
    return json_response({"count": count, "next": next_url, "previous": None, "results": results})


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


def uuid_v7(moment: dt.datetime) -> uuid.UUID:
    ms = int(moment.timestamp() * 1000)
    rand = int.from_bytes(os.urandom(10))
    value = (ms << 80) | (0x7 << 76) | ((rand >> 68) << 64) | (0b10 << 62) | (rand & (2**62 - 1))
    return uuid.UUID(int=value)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """No per-release reset: the baseline sets no session state, and asyncpg's default
    (`RESET ALL`, `UNLISTEN *`, … on every release) would cost it a round trip per request."""


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # Same pool bounds as the service's engine (pool_size 10 + max_overflow 10).
    app.state.pool = await asyncpg.create_pool(
        os.environ["BASELINE_DSN"], min_size=1, max_size=20, reset=_keep_session
    )
    try:
        yield
    finally:
        await app.state.pool.close()


PREFIX = "/api/environments/{team}"
app = Starlette(
    routes=[
        Route(f"{PREFIX}/dataset_items/", list_items, methods=["GET"]),
        Route(f"{PREFIX}/dataset_items/", create_item, methods=["POST"]),
        Route(f"{PREFIX}/dataset_items/{{id}}/", retrieve_item, methods=["GET"]),
        Route(f"{PREFIX}/datasets/", list_datasets, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ],
    lifespan=lifespan,
)
