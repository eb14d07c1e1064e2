"""`…/llm_analytics/provider_keys/`, `…/llm_analytics/provider_key_validations/` and
`…/llm_analytics/models/`: HTTP only, the rules are in service.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request, Response

from app.auth.dependencies import CanReadProviderKeys, CanWriteProviderKeys
from app.provider_keys import schemas
from app.provider_keys.schemas import checked_key_id, checked_provider, parse_key_id
from app.provider_keys.service import ProviderKeyServiceDep
from app.web.methods import refuse_other_methods
from app.web.openapi import error_responses
from app.web.pagination import Page, Pagination, page
from app.web.routing import api_router

PREFIX = "/api/environments/{environment_id}/llm_analytics"
router = api_router(f"{PREFIX}/provider_keys", "Provider keys")
validations_router = api_router(f"{PREFIX}/provider_key_validations", "Provider key validations")
models_router = api_router(f"{PREFIX}/models", "Models")

KeyId = Annotated[str, Path(alias="id", description="The provider key's id (UUID).")]
READ_ERRORS = error_responses(401, 403, 404)
WRITE_ERRORS = error_responses(400, 401, 403, 404, 413, 415, 429)  # 429: PROVIDER_CALLS_PER_TEAM


@router.get("/", response_model=Page[schemas.ProviderKeyRead], responses=READ_ERRORS)
async def list_provider_keys(
    context: CanReadProviderKeys,
    request: Request,
    service: ProviderKeyServiceDep,
    pagination: Pagination,
) -> dict[str, Any]:
    """The team's provider keys, newest first. Scope `llm_provider_key:read`."""
    count, keys = await service.page(context, offset=pagination.offset, limit=pagination.limit)
    return page(request, pagination, count, keys)


@router.post("/", status_code=201, response_model=schemas.ProviderKeyRead, responses=WRITE_ERRORS)
async def create_provider_key(
    context: CanWriteProviderKeys, service: ProviderKeyServiceDep, body: schemas.ProviderKeyCreate
) -> dict[str, Any]:
    """Store a provider key after checking its format and validating it live with the provider
    (nothing is stored when it is not `ok`). Scope `llm_provider_key:write`."""
    return await service.create(context, body)


@router.get("/{id}/", response_model=schemas.ProviderKeyRead, responses=READ_ERRORS)
async def retrieve_provider_key(
    context: CanReadProviderKeys, service: ProviderKeyServiceDep, key_id: KeyId
) -> dict[str, Any]:
    """One provider key (never its secret). Scope `llm_provider_key:read`."""
    return await service.retrieve(context, parse_key_id(key_id))


@router.patch("/{id}/", response_model=schemas.ProviderKeyRead, responses=WRITE_ERRORS)
async def update_provider_key(
    context: CanWriteProviderKeys,
    service: ProviderKeyServiceDep,
    key_id: KeyId,
    body: schemas.ProviderKeyUpdate,
) -> dict[str, Any]:
    """Rename, replace the key (validated live; an invalid one leaves the old key in place), or
    change its endpoint fields. Drops the cached model list. Scope `llm_provider_key:write`."""
    return await service.update(context, parse_key_id(key_id), body)


@router.delete(
    "/{id}/", status_code=204, response_class=Response, responses=error_responses(401, 403, 404)
)
async def delete_provider_key(
    context: CanWriteProviderKeys, service: ProviderKeyServiceDep, key_id: KeyId
) -> Response:
    """Delete a key; when it was the active key, the team has none afterwards.
    Scope `llm_provider_key:write`."""
    await service.delete(context, parse_key_id(key_id))
    return Response(status_code=204)


@router.post(
    "/{id}/validate/",
    response_model=schemas.ProviderKeyRead,
    responses=error_responses(401, 403, 404, 429),
)
async def validate_provider_key(
    context: CanWriteProviderKeys, service: ProviderKeyServiceDep, key_id: KeyId
) -> dict[str, Any]:
    """Re-check the stored key with its provider and save the outcome in `state` /
    `error_message` (200 also when the key turned out invalid). Scope `llm_provider_key:write`."""
    return await service.revalidate(context, parse_key_id(key_id))


@validations_router.post(
    "/",
    status_code=201,
    response_model=schemas.KeyValidationRead,
    responses=error_responses(400, 401, 403, 404, 413, 415, 429),
)
async def create_provider_key_validation(
    context: CanWriteProviderKeys,
    service: ProviderKeyServiceDep,
    body: schemas.KeyValidationRequest,
) -> dict[str, Any]:
    """Check a key with its provider without storing anything: 201 with `state` ok, invalid or
    error. Scope `llm_provider_key:write`."""
    return await service.check(context, body)


@models_router.get(
    "/", response_model=schemas.ModelList, responses=error_responses(400, 401, 403, 404, 429, 502)
)
async def list_llm_models(
    context: CanReadProviderKeys,
    service: ProviderKeyServiceDep,
    provider: Annotated[str, Query(description="Provider name; `google` means gemini.")],
    key_id: Annotated[
        str | None, Query(description="A provider key of the team: list its live models.")
    ] = None,
) -> dict[str, Any]:
    """Models for a provider: the curated list, or with `key_id` exactly the provider's live
    list for that key, the models it can use (curated ids among them first, in curated order,
    then the rest sorted by id; cached 10 minutes). Scope `llm_provider_key:read`."""
    models = await service.models(context, checked_provider(provider), checked_key_id(key_id))
    return {"models": models}


refuse_other_methods(router, read_scope=CanReadProviderKeys, write_scope=CanWriteProviderKeys)
refuse_other_methods(
    validations_router, read_scope=CanReadProviderKeys, write_scope=CanWriteProviderKeys
)
refuse_other_methods(
    models_router, read_scope=CanReadProviderKeys, write_scope=CanWriteProviderKeys
)
