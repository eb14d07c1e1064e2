"""`…/llm_analytics/provider_keys/` and `…/llm_analytics/provider_key_validations/`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request, Response

from app.auth.dependencies import CanReadProviderKeys, CanWriteProviderKeys, TeamContext
from app.db.session import SessionDep
from app.provider_keys import schemas
from app.provider_keys.checks import checked_connection, key_format_error
from app.provider_keys.service import ProviderKeyService, parse_key_id
from app.providers.base import KeyState
from app.web.errors import ValidationFailed
from app.web.methods import refuse_other_methods
from app.web.openapi import error_responses
from app.web.pagination import Page, Pagination, page
from app.web.routing import api_router

PREFIX = "/api/environments/{environment_id}/llm_analytics"
router = api_router(f"{PREFIX}/provider_keys", "Provider keys")
validations_router = api_router(f"{PREFIX}/provider_key_validations", "Provider key validations")

KeyId = Annotated[str, Path(alias="id", description="The provider key's id (UUID).")]
READ_ERRORS = error_responses(401, 403, 404)
WRITE_ERRORS = error_responses(400, 401, 403, 404, 413, 415, 429)  # 429: PROVIDER_CALLS_PER_TEAM


def _service(request: Request, session: Any, context: TeamContext) -> ProviderKeyService:
    return ProviderKeyService.from_request(request, session, context)


@router.get("/", response_model=Page[schemas.ProviderKeyRead], responses=READ_ERRORS)
async def list_provider_keys(
    context: CanReadProviderKeys, request: Request, session: SessionDep, pagination: Pagination
) -> dict[str, Any]:
    """The team's provider keys, newest first. Scope `llm_provider_key:read`."""
    service = _service(request, session, context)
    count, keys = await service.repo.page(offset=pagination.offset, limit=pagination.limit)
    active_id = await service.repo.active_key_id()
    return page(request, pagination, count, [service.present(key, active_id) for key in keys])


@router.post("/", status_code=201, response_model=schemas.ProviderKeyRead, responses=WRITE_ERRORS)
async def create_provider_key(
    context: CanWriteProviderKeys,
    request: Request,
    session: SessionDep,
    body: schemas.ProviderKeyCreate,
) -> dict[str, Any]:
    """Store a provider key after checking its format and validating it live with the provider
    (nothing is stored when it is not `ok`). Scope `llm_provider_key:write`."""
    service = _service(request, session, context)
    key = await service.create(body)
    return service.present(key, key.id if body.set_as_active else None)


@router.get("/{id}/", response_model=schemas.ProviderKeyRead, responses=READ_ERRORS)
async def retrieve_provider_key(
    context: CanReadProviderKeys, request: Request, session: SessionDep, key_id: KeyId
) -> dict[str, Any]:
    """One provider key (never its secret). Scope `llm_provider_key:read`."""
    service = _service(request, session, context)
    key = await service.get(parse_key_id(key_id))
    return service.present(key, await service.repo.active_key_id())


@router.patch("/{id}/", response_model=schemas.ProviderKeyRead, responses=WRITE_ERRORS)
async def update_provider_key(
    context: CanWriteProviderKeys,
    request: Request,
    session: SessionDep,
    key_id: KeyId,
    body: schemas.ProviderKeyUpdate,
) -> dict[str, Any]:
    """Rename, replace the key (validated live; an invalid one leaves the old key in place), or
    change its endpoint fields. Drops the cached model list. Scope `llm_provider_key:write`."""
    service = _service(request, session, context)
    key = await service.update(parse_key_id(key_id), body)
    return service.present(key, await service.repo.active_key_id())


@router.delete(
    "/{id}/", status_code=204, response_class=Response, responses=error_responses(401, 403, 404)
)
async def delete_provider_key(
    context: CanWriteProviderKeys, request: Request, session: SessionDep, key_id: KeyId
) -> Response:
    """Delete a key; when it was the active key, the team has none afterwards.
    Scope `llm_provider_key:write`."""
    await _service(request, session, context).delete(parse_key_id(key_id))
    return Response(status_code=204)


@router.post(
    "/{id}/validate/",
    response_model=schemas.ProviderKeyRead,
    responses=error_responses(401, 403, 404, 429),
)
async def validate_provider_key(
    context: CanWriteProviderKeys, request: Request, session: SessionDep, key_id: KeyId
) -> dict[str, Any]:
    """Re-check the stored key with its provider and save the outcome in `state` /
    `error_message` (200 also when the key turned out invalid). Scope `llm_provider_key:write`."""
    service = _service(request, session, context)
    key = await service.revalidate(parse_key_id(key_id))
    return service.present(key, await service.repo.active_key_id())


@validations_router.post(
    "/",
    status_code=201,
    response_model=schemas.KeyValidationRead,
    responses=error_responses(400, 401, 403, 404, 413, 415, 429),
)
async def create_provider_key_validation(
    context: CanWriteProviderKeys,
    request: Request,
    session: SessionDep,
    body: schemas.KeyValidationRequest,
) -> dict[str, Any]:
    """Check a key with its provider without storing anything: 201 with `state` ok, invalid or
    error. Scope `llm_provider_key:write`."""
    if not body.api_key or not body.api_key.strip():
        raise ValidationFailed("API key is required.", code="required", attr="api_key")
    api_key = body.api_key.strip()
    format_error = key_format_error(body.provider, api_key)
    if format_error is not None:
        return {"state": KeyState.INVALID.value, "error_message": format_error}
    service = _service(request, session, context)
    await service.release()  # DNS checks and the provider call follow; nothing to write
    connection = await checked_connection(
        service.settings,
        body.provider,
        base_url=body.base_url,
        azure_endpoint=body.azure_endpoint,
        api_version=body.api_version,
    )
    result = await service.live_check(body.provider, api_key, connection)
    return {"state": result.state.value, "error_message": result.error_message}


refuse_other_methods(router, read_scope=CanReadProviderKeys, write_scope=CanWriteProviderKeys)
refuse_other_methods(
    validations_router, read_scope=CanReadProviderKeys, write_scope=CanWriteProviderKeys
)
