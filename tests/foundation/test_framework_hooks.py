"""app/web/routing.py and app/web/methods.py lean on FastAPI's route class: fail loudly here if
an upgrade changes what they use."""

from __future__ import annotations

import inspect
from importlib.metadata import version
from typing import Any

import pytest
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant

from app.auth.dependencies import CanReadDatasets, CanWriteDatasets
from app.web.methods import refuse_other_methods, scope_dependency, scope_name
from app.web.routing import APIRoute, DeferredBodyRequest, api_router


def test_fastapi_is_within_the_pinned_range() -> None:
    major, minor = (int(part) for part in version("fastapi").split(".")[:2])
    assert (major, minor) >= (0, 121)
    assert (major, minor) < (0, 170)


def test_the_route_class_still_exposes_what_we_read() -> None:
    async def endpoint(context: CanReadDatasets, size: int = 0) -> dict[str, Any]:
        return {}

    route = APIRoute("/api/environments/{environment_id}/x/", endpoint, methods=["GET"])
    assert isinstance(route.dependant, Dependant)
    assert route.body_field is None
    assert [param.alias for param in route.dependant.query_params] == ["size"]
    calls = [sub.call for sub in route.dependant.dependencies]
    assert any(getattr(call, "scope", None) == "dataset:read" for call in calls)


def test_fastapi_reads_the_body_through_the_request_it_is_handed() -> None:
    # DeferredBodyRequest answers `body()` and `json()`; FastAPI must read the body that way.
    source = inspect.getsource(fastapi_routing.get_request_handler)
    assert "await request.body()" in source
    assert "await request.json()" in source
    assert "body" in DeferredBodyRequest.__dict__
    assert "json" in DeferredBodyRequest.__dict__


def test_scope_aliases_name_their_scope() -> None:
    assert scope_name(CanReadDatasets) == "dataset:read"
    assert getattr(scope_dependency(CanReadDatasets).dependency, "scope", None) == "dataset:read"


def test_refusals_cover_every_served_path_and_check_hard_delete_paths() -> None:
    router = api_router("/api/environments/{environment_id}/things", "Things")

    @router.get("/{id}/")
    async def get_thing(context: CanReadDatasets, id: str) -> dict[str, Any]:
        return {}

    with pytest.raises(ValueError, match="does not serve"):
        refuse_other_methods(
            router, read_scope=CanReadDatasets, write_scope=CanWriteDatasets, hard_delete=("/",)
        )
    refuse_other_methods(
        router, read_scope=CanReadDatasets, write_scope=CanWriteDatasets, hard_delete=("/{id}/",)
    )
    refused = [route for route in router.routes if isinstance(route, APIRoute)][1:]
    assert all(route.refuses_method for route in refused)
    assert sorted(method for route in refused for method in route.methods) == sorted(
        ["HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
    )
    assert [route.include_in_schema for route in refused if "DELETE" in route.methods] == [True]
