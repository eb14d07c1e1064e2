"""Team-bound SQL for datasets and items.

Every statement starts from a base filtered by `team_id = :team_id` (and by `NOT deleted` for
lists and retrieve), and the repository, built for one team, binds that parameter on every
execution, so no method can forget isolation. The statements themselves are built once per
shape (`functools.cache`) and only bound per request. Reads and item creation are single
statements run on the driver (`app.db.driver`). Every method that answers with a resource
returns its one row shape (`app.datasets.serializers`): dataset creation and both PATCHes write
through the ORM and then read the row back with the retrieve statement (its variant that also
sees soft-deleted rows); an item's insert selects the same columns from its own `RETURNING`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from typing import Any

import asyncpg
from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    DateTime,
    Exists,
    Integer,
    Select,
    Text,
    Uuid,
    and_,
    any_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.datasets.filters import like_pattern
from app.datasets.paging import Ordering, PageQuery, PageRows, SortKey, Window
from app.datasets.serializers import DATASET_COLUMNS, ITEM_COLUMNS, item_columns, json_text
from app.db.base import NEXT_UPDATED_AT, utcnow, uuid7
from app.db.driver import Statement, fetchrow
from app.models import Dataset, DatasetItem, User

TEAM = bindparam("team_id", type_=Integer())
ID = bindparam("id", type_=Uuid())
DATASET = bindparam("dataset_id", type_=Uuid())
# Matches ix_dataset_items_team_dataset_created / ix_dataset_items_team_created exactly.
ITEM_ORDERING = Ordering(
    (
        SortKey("created_at", DatasetItem.created_at, descending=True),
        SortKey("id", DatasetItem.id, descending=False),
    )
)
# API field name → ORM attribute, where they differ.
ATTRIBUTES = {"metadata": "metadata_", "dataset": "dataset_id"}
JSON_FIELDS = frozenset({"input", "output", "metadata"})


def _assign(instance: Any, values: dict[str, Any]) -> None:
    for field, value in values.items():
        if value is None and field in JSON_FIELDS:
            # The JSON columns are NOT NULL and map None to SQL NULL (`none_as_null`): store
            # JSON's own `null` instead, which reads back as null all the same.
            value = JSON.NULL
        setattr(instance, ATTRIBUTES.get(field, field), value)


# --- datasets ---------------------------------------------------------------------------------

# Literally the partial indexes' predicate, so the planner can use them.
LIVE_DATASETS = (Dataset.team_id == TEAM, not_(Dataset.deleted))
DATASET_ROWS = select(*DATASET_COLUMNS).outerjoin(User, User.id == Dataset.created_by_id)


@cache
def _dataset_ordering(terms: tuple[str, ...]) -> Ordering:
    """`id` breaks ties opposite to the first key, so single-key orders match an index scan."""
    keys = [SortKey(t.lstrip("-"), getattr(Dataset, t.lstrip("-")), t[0] == "-") for t in terms]
    keys.append(SortKey("id", Dataset.id, descending=not keys[0].descending))
    return Ordering(tuple(keys))


@cache
def _dataset_list(terms: tuple[str, ...], with_ids: bool, with_search: bool) -> PageQuery:
    filters: list[ColumnElement[bool]] = [*LIVE_DATASETS]
    if with_ids:
        # `= ANY(array)` rather than an expanding IN: one statement text for any number of ids.
        filters.append(Dataset.id == any_(bindparam("ids", type_=ARRAY(Uuid()))))
    if with_search:
        # The same expressions as the trigram GIN indexes, so they can serve the search.
        pattern = bindparam("pattern", type_=Text())
        metadata_text = cast(Dataset.metadata_, Text)
        filters.append(
            or_(
                Dataset.name.ilike(pattern, escape="\\"),
                Dataset.description.ilike(pattern, escape="\\"),
                # Absent metadata is stored as JSON null, whose text "null" is no match.
                and_(
                    metadata_text.ilike(pattern, escape="\\"),
                    func.jsonb_typeof(Dataset.metadata_) != "null",
                ),
            )
        )
    return PageQuery(DATASET_ROWS, tuple(filters), _dataset_ordering(terms), Dataset.id)


@cache
def _dataset_by_id(with_deleted: bool = False) -> Statement:
    """The retrieve statement; `with_deleted` reads a row back after a write, which may have
    soft-deleted it."""
    where = (Dataset.team_id == TEAM,) if with_deleted else LIVE_DATASETS
    return Statement(DATASET_ROWS.where(*where, Dataset.id == ID))


@cache
def _dataset_model() -> Select[Dataset]:
    # Deleted ones too: PATCH reaches them so `{"deleted": false}` can restore.
    return select(Dataset).where(Dataset.team_id == TEAM, Dataset.id == ID)


class DatasetRepository:
    def __init__(self, session: AsyncSession, team_id: int) -> None:
        self.session = session
        self.team_id = team_id

    async def list(
        self,
        *,
        ids: Sequence[uuid.UUID],
        search: str | None,
        order_terms: tuple[str, ...],
        window: Window,
    ) -> PageRows:
        query = _dataset_list(order_terms, bool(ids), bool(search))
        params: dict[str, Any] = {"team_id": self.team_id}
        if ids:
            params["ids"] = list(ids)
        if search:
            params["pattern"] = like_pattern(search)
        return await query.fetch(self.session, params, window)

    async def get(
        self, dataset_id: uuid.UUID, *, with_deleted: bool = False
    ) -> asyncpg.Record | None:
        params = {"team_id": self.team_id, "id": dataset_id}
        return await fetchrow(self.session, _dataset_by_id(with_deleted), params)

    async def create(self, values: dict[str, Any], created_by_id: int) -> asyncpg.Record:
        now = utcnow()
        dataset = Dataset(
            team_id=self.team_id, created_by_id=created_by_id, created_at=now, updated_at=now
        )
        _assign(dataset, values)
        self.session.add(dataset)
        await self.session.flush()
        row = await self.get(dataset.id, with_deleted=True)
        assert row is not None  # written just now, in this transaction
        return row

    async def update(self, dataset_id: uuid.UUID, values: dict[str, Any]) -> asyncpg.Record | None:
        """The updated row; None when the team has no such dataset (deleted ones included)."""
        params = {"team_id": self.team_id, "id": dataset_id}
        dataset = (await self.session.execute(_dataset_model(), params)).scalar_one_or_none()
        if dataset is None:
            return None
        _assign(dataset, values)
        # Stamped by the database as it writes (every PATCH moves it, even one changing nothing).
        dataset.updated_at = NEXT_UPDATED_AT
        await self.session.flush()
        return await self.get(dataset_id, with_deleted=True)


# --- dataset items ----------------------------------------------------------------------------

LIVE_ITEMS = (DatasetItem.team_id == TEAM, not_(DatasetItem.deleted))
ITEM_ROWS = select(*ITEM_COLUMNS).outerjoin(User, User.id == DatasetItem.created_by_id)


def _dataset_is_live() -> Exists:
    return exists().where(Dataset.id == DATASET, *LIVE_DATASETS)


@cache
def _item_list(in_dataset: bool) -> PageQuery:
    filters: list[ColumnElement[bool]] = [*LIVE_ITEMS]
    if in_dataset:
        # A missing, deleted or foreign dataset lists nothing. The EXISTS is uncorrelated: a
        # one-time filter evaluated once per query, not per row.
        filters += [DatasetItem.dataset_id == DATASET, _dataset_is_live()]
    return PageQuery(ITEM_ROWS, tuple(filters), ITEM_ORDERING, DatasetItem.id)


@cache
def _item_by_id(with_deleted: bool = False) -> Statement:
    """The retrieve statement; `with_deleted` reads a row back after a PATCH."""
    where = (DatasetItem.team_id == TEAM,) if with_deleted else LIVE_ITEMS
    return Statement(ITEM_ROWS.where(*where, DatasetItem.id == ID))


@cache
def _item_model() -> Select[DatasetItem]:
    # Deleted ones too: PATCH reaches them so `{"deleted": false}` can restore.
    return select(DatasetItem).where(DatasetItem.team_id == TEAM, DatasetItem.id == ID)


@cache
def _live_dataset_check() -> Statement:
    return Statement(select(_dataset_is_live()))


@cache
def _item_insert() -> Statement:
    """One statement: insert into a live dataset of the team, or nothing (no row back). The new
    row comes back in the retrieve statement's shape, joined to its creator like a read."""
    now = bindparam("now", type_=DateTime(timezone=True))
    values = {
        "id": ID,
        "team_id": TEAM,
        "dataset_id": DATASET,
        **{name: cast(bindparam(name, type_=Text()), JSONB) for name in sorted(JSON_FIELDS)},
        "ref_trace_id": bindparam("ref_trace_id", type_=Text()),
        "ref_timestamp": bindparam("ref_timestamp", type_=DateTime(timezone=True)),
        "ref_source_id": bindparam("ref_source_id", type_=Text()),
        "deleted": bindparam("deleted", type_=Boolean()),
        "created_by_id": bindparam("created_by_id", type_=Integer()),
        "created_at": now,
        "updated_at": now,
    }
    source = select(*values.values()).where(_dataset_is_live())  # type: ignore[call-overload]
    inserted = (
        insert(DatasetItem)
        .from_select(list(values), source)
        .returning(*DatasetItem.__table__.columns)
        .cte("inserted")
    )
    item = aliased(DatasetItem, inserted)
    row = select(*item_columns(item)).outerjoin(User, User.id == item.created_by_id)
    return Statement(row)


class DatasetItemRepository:
    def __init__(self, session: AsyncSession, team_id: int) -> None:
        self.session = session
        self.team_id = team_id

    async def dataset_is_live(self, dataset_id: uuid.UUID) -> bool:
        params = {"team_id": self.team_id, "dataset_id": dataset_id}
        row = await fetchrow(self.session, _live_dataset_check(), params)
        return row is not None and bool(row[0])

    async def list(self, *, dataset_id: uuid.UUID | None, window: Window) -> PageRows:
        params: dict[str, Any] = {"team_id": self.team_id}
        if dataset_id is not None:
            params["dataset_id"] = dataset_id
        return await _item_list(dataset_id is not None).fetch(self.session, params, window)

    async def get(self, item_id: uuid.UUID, *, with_deleted: bool = False) -> asyncpg.Record | None:
        params = {"team_id": self.team_id, "id": item_id}
        return await fetchrow(self.session, _item_by_id(with_deleted), params)

    async def get_for_update(self, item_id: uuid.UUID) -> DatasetItem | None:
        """The ORM item to change (deleted ones too)."""
        params = {"team_id": self.team_id, "id": item_id}
        result = await self.session.execute(_item_model(), params)
        return result.scalar_one_or_none()

    async def create(self, values: dict[str, Any], created_by_id: int) -> asyncpg.Record | None:
        """The new item's row, or None when the dataset is not a live one of the team's."""
        params = {
            **values,
            **{name: json_text(values[name]) for name in JSON_FIELDS},
            "id": uuid7(),
            "team_id": self.team_id,
            "dataset_id": values["dataset"],
            "created_by_id": created_by_id,
            "now": utcnow(),
        }
        return await fetchrow(self.session, _item_insert(), params)

    async def update(self, item: DatasetItem, values: dict[str, Any]) -> asyncpg.Record:
        _assign(item, values)
        item.updated_at = NEXT_UPDATED_AT
        await self.session.flush()
        row = await self.get(item.id, with_deleted=True)
        assert row is not None  # updated just now, in this transaction
        return row
