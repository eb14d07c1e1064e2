"""Request and response models of datasets and dataset items.

Input models list only writable fields: read-only ones (`id`, `team`, `created_by`,
`created_at`, `updated_at`) and unknown keys are ignored, as DRF does. Update models leave every
field optional and are applied with `exclude_unset`. The read models document the responses;
the routes render them with `app.datasets.serializers` (no re-validation on the way out).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import Field

from app.auth.users import UserBasic
from app.datasets.fields import (
    Boolean,
    BooleanUpdate,
    DatasetRef,
    DatasetRefUpdate,
    Description,
    Name,
    NameUpdate,
    RefString,
    RefTimestamp,
)
from app.web.schemas import APIModel, Timestamp

ANY_JSON = "Any JSON value (object, array, string, number, boolean or null)."


class DatasetCreate(APIModel):
    name: Name
    description: Description = None
    metadata: Any = Field(default=None, description=ANY_JSON)
    deleted: Boolean = False


class DatasetUpdate(APIModel):
    name: NameUpdate = None
    description: Description = None
    metadata: Any = Field(default=None, description=ANY_JSON)
    deleted: BooleanUpdate = None


class DatasetRead(APIModel):
    id: uuid.UUID
    name: str
    description: str | None
    metadata: Any = Field(description=ANY_JSON)
    created_at: Timestamp
    updated_at: Timestamp
    deleted: bool
    created_by: UserBasic | None
    team: int
    item_count: int = Field(
        description="Live (not deleted) items in the dataset; read-only, kept by the database."
    )


class DatasetItemCreate(APIModel):
    dataset: DatasetRef = Field(description="A live dataset of the same team.")
    input: Any = Field(default=None, description=ANY_JSON)
    output: Any = Field(default=None, description=ANY_JSON)
    metadata: Any = Field(default=None, description=ANY_JSON)
    ref_trace_id: RefString = None
    ref_timestamp: RefTimestamp = None
    ref_source_id: RefString = None
    deleted: Boolean = False


class DatasetItemUpdate(APIModel):
    dataset: DatasetRefUpdate = Field(
        default=None, description="Moves the item to another live dataset of the same team."
    )
    input: Any = Field(default=None, description=ANY_JSON)
    output: Any = Field(default=None, description=ANY_JSON)
    metadata: Any = Field(default=None, description=ANY_JSON)
    ref_trace_id: RefString = None
    ref_timestamp: RefTimestamp = None
    ref_source_id: RefString = None
    deleted: BooleanUpdate = None


class DatasetItemRead(APIModel):
    id: uuid.UUID
    dataset: uuid.UUID
    input: Any = Field(description=ANY_JSON)
    output: Any = Field(description=ANY_JSON)
    metadata: Any = Field(description=ANY_JSON)
    ref_trace_id: str | None
    ref_timestamp: dt.datetime | None
    ref_source_id: str | None
    deleted: bool
    created_at: Timestamp
    updated_at: Timestamp
    created_by: UserBasic | None
    team: int
