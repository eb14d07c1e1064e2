"""The project's base of wire models (`APIModel`) and the wire form of a timestamp."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer

from app.web.jsonutil import isoformat

# ISO 8601 UTC with microseconds and `Z` on the wire (SPEC §4).
Timestamp = Annotated[dt.datetime, PlainSerializer(isoformat, return_type=str, when_used="json")]


class APIModel(BaseModel):
    """Project base: reads ORM objects, ignores unknown input fields."""

    model_config = ConfigDict(from_attributes=True, extra="ignore", populate_by_name=True)
