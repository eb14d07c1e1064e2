"""Team-bound SQL for datasets and items.

Each repository is built for one team and every statement starts from a base already filtered
by it (and by `NOT deleted` for lists and retrieve), so no method can forget isolation. Reads
return flat rows for `app.datasets.serializers`; writes work on ORM objects whose `created_by`
is loaded by a join (relationships are `lazy="raise"`). A list page is one round trip: the exact
count rides along as an uncorrelated scalar subquery, run separately only when the page is empty.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Row,
    Select,
    Text,
    and_,
    cast,
    exists,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from app.datasets.listing import Ordering, SortKey, Window, like_pattern
from app.datasets.serializers import DATASET_COLUMNS, ITEM_COLUMNS
from app.db import utcnow
from app.errors import ValidationFailed
from app.models import Dataset, DatasetItem, User

MAX_OFFSET = 2**63 - 1
DATASET_ORDER_BY = ("created_at", "-created_at", "updated_at", "-updated_at")
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


@dataclass(frozen=True)
class PageRows:
    count: int
    rows: Sequence[Row[Any]]
    next_position: list[Any] | None


async def fetch_page(
    session: AsyncSession, rows: Select[Any], count: Select[Any], ordering: Ordering, window: Window
) -> PageRows:
    total = count.correlate(None).scalar_subquery().label("total")
    statement = rows.add_columns(total).order_by(*ordering.clauses())
    if window.cursor:
        statement = statement.where(ordering.after(ordering.decode(window.cursor)))
    if window.cursor is None:
        # OFFSET is a bigint: anything larger is past the end anyway.
        statement = statement.limit(window.limit).offset(min(window.offset, MAX_OFFSET))
    else:
        # One extra row tells whether a next page exists.
        statement = statement.limit(window.limit + 1)
    result = (await session.execute(statement)).all()
    counted = int(result[0][-1]) if result else int((await session.execute(count)).scalar_one())
    next_position = None
    if window.cursor is not None and len(result) > window.limit:
        result = result[: window.limit]
        next_position = ordering.position_of(result[-1])
    return PageRows(counted, result, next_position)


def _assign(instance: Any, values: dict[str, Any]) -> None:
    for field, value in values.items():
        if value is None and field in JSON_FIELDS:
            # The JSON columns are NOT NULL and map None to SQL NULL (`none_as_null`): store
            # JSON's own `null` instead, which reads back as null all the same.
            value = JSON.NULL
        setattr(instance, ATTRIBUTES.get(field, field), value)


def dataset_ordering(terms: Sequence[str]) -> Ordering:
    """`order_by` terms → keys; `id` breaks ties opposite to the first key, as the indexes do."""
    keys: list[SortKey] = []
    for term in terms or ("-created_at",):
        if term not in DATASET_ORDER_BY:
            raise ValidationFailed(
                f"Select a valid choice. {term} is not one of the available choices.",
                code="invalid_choice",
                attr="order_by",
            )
        name = term.lstrip("-")
        if all(key.name != name for key in keys):
            keys.append(SortKey(name, getattr(Dataset, name), descending=term.startswith("-")))
    keys.append(SortKey("id", Dataset.id, descending=not keys[0].descending))
    return Ordering(tuple(keys))


class DatasetRepository:
    def __init__(self, session: AsyncSession, team_id: int) -> None:
        self.session = session
        self.team_id = team_id

    def _rows(self) -> Select[Any]:
        return (
            select(*DATASET_COLUMNS)
            .outerjoin(User, User.id == Dataset.created_by_id)
            .where(Dataset.team_id == self.team_id, not_(Dataset.deleted))
        )

    def _models(self) -> Select[Dataset]:
        return (
            select(Dataset)
            .options(joinedload(Dataset.created_by))
            .where(Dataset.team_id == self.team_id)
        )

    async def list(
        self, *, ids: Sequence[uuid.UUID], search: str | None, ordering: Ordering, window: Window
    ) -> PageRows:
        filters: list[ColumnElement[bool]] = []
        if ids:
            filters.append(Dataset.id.in_(ids))
        if search:
            # Same expressions as the trigram GIN indexes, so they can serve the search.
            pattern = like_pattern(search)
            filters.append(
                or_(
                    Dataset.name.ilike(pattern, escape="\\"),
                    Dataset.description.ilike(pattern, escape="\\"),
                    and_(
                        cast(Dataset.metadata_, Text).ilike(pattern, escape="\\"),
                        # Absent metadata is stored as JSON null, whose text "null" is no match.
                        func.jsonb_typeof(Dataset.metadata_) != "null",
                    ),
                )
            )
        count = (
            select(func.count())
            .select_from(Dataset)
            .where(Dataset.team_id == self.team_id, not_(Dataset.deleted), *filters)
        )
        return await fetch_page(self.session, self._rows().where(*filters), count, ordering, window)

    async def get(self, dataset_id: uuid.UUID) -> Row[Any] | None:
        statement = self._rows().where(Dataset.id == dataset_id)
        row: Row[Any] | None = (await self.session.execute(statement)).first()
        return row

    async def get_for_update(self, dataset_id: uuid.UUID) -> Dataset | None:
        """Deleted ones too: PATCH reaches them so `{"deleted": false}` can restore."""
        statement = self._models().where(Dataset.id == dataset_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def create(self, values: dict[str, Any], user: User) -> Dataset:
        now = utcnow()
        dataset = Dataset(team_id=self.team_id, created_by=user, created_at=now, updated_at=now)
        _assign(dataset, values)
        self.session.add(dataset)
        await self.session.flush()
        return dataset

    async def update(self, dataset: Dataset, values: dict[str, Any]) -> Dataset:
        _assign(dataset, values)
        dataset.updated_at = _later_than(dataset.updated_at)
        await self.session.flush()
        return dataset


def _later_than(previous: dt.datetime) -> dt.datetime:
    # `updated_at` must move on every change, even two changes within one clock tick.
    now = utcnow()
    return now if now > previous else previous + dt.timedelta(microseconds=1)


def live_dataset(team_id: int, dataset_id: uuid.UUID) -> Any:
    return exists().where(
        Dataset.id == dataset_id, Dataset.team_id == team_id, not_(Dataset.deleted)
    )


class DatasetItemRepository:
    def __init__(self, session: AsyncSession, team_id: int) -> None:
        self.session = session
        self.team_id = team_id

    def _live(self) -> list[Any]:
        # Literally the partial indexes' predicate, so the planner can use them.
        return [DatasetItem.team_id == self.team_id, not_(DatasetItem.deleted)]

    def _rows(self) -> Select[Any]:
        return (
            select(*ITEM_COLUMNS)
            .outerjoin(User, User.id == DatasetItem.created_by_id)
            .where(*self._live())
        )

    def _models(self) -> Select[DatasetItem]:
        return (
            select(DatasetItem)
            .options(joinedload(DatasetItem.created_by))
            .where(DatasetItem.team_id == self.team_id)
        )

    async def dataset_is_live(self, dataset_id: uuid.UUID) -> bool:
        return bool(await self.session.scalar(select(live_dataset(self.team_id, dataset_id))))

    async def list(self, *, dataset_id: uuid.UUID | None, window: Window) -> PageRows:
        filters: list[Any] = []
        if dataset_id is not None:
            # A missing, deleted or foreign dataset lists nothing; the EXISTS is a one-time
            # filter evaluated once per query, not per row.
            filters = [DatasetItem.dataset_id == dataset_id, live_dataset(self.team_id, dataset_id)]
        count = select(func.count()).select_from(DatasetItem).where(*self._live(), *filters)
        rows = self._rows().where(*filters)
        return await fetch_page(self.session, rows, count, ITEM_ORDERING, window)

    async def get(self, item_id: uuid.UUID) -> Row[Any] | None:
        statement = self._rows().where(DatasetItem.id == item_id)
        row: Row[Any] | None = (await self.session.execute(statement)).first()
        return row

    async def get_for_update(self, item_id: uuid.UUID) -> DatasetItem | None:
        """Deleted ones too: PATCH reaches them so `{"deleted": false}` can restore."""
        statement = self._models().where(DatasetItem.id == item_id)
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def create(self, values: dict[str, Any], user: User) -> DatasetItem:
        now = utcnow()
        item = DatasetItem(team_id=self.team_id, created_by=user, created_at=now, updated_at=now)
        _assign(item, values)
        self.session.add(item)
        await self.session.flush()
        return item

    async def update(self, item: DatasetItem, values: dict[str, Any]) -> DatasetItem:
        _assign(item, values)
        item.updated_at = _later_than(item.updated_at)
        await self.session.flush()
        return item
