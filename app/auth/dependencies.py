"""Request dependencies: who is calling, with which scopes, on which team.

Each endpoint names its scope through one alias below (`CanReadDatasets`,
`CanWriteProviderKeys`, …), named for the permission, apart from the response schemas
(`DatasetRead`, …). The dependency runs SPEC §3's checks in order — 401, 403 (scope),
404/403 (team) — and only then has the body decoded and raises whatever is wrong with it or
the query (415/400), so a caller without access never learns anything from validation, nor
costs a parse.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.repository import IdentityRepository
from app.auth.scopes import has_scope
from app.db.session import SessionDep
from app.web.errors import NotAuthenticated, NotFound, PermissionDenied
from app.web.routing import validate_request

CURRENT_TEAM = "@current"
# Declared so the OpenAPI document has a bearer scheme and Swagger UI's "Authorize" works;
# the header itself is checked in `resolve_team` to give SPEC §3's exact errors.
bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="PersonalAPIKey", description="Personal API key (phx_…)"
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
TEAM_PATH_DESCRIPTION = "Team (environment/project) id, or `@current` for the key owner's team."


@dataclass(frozen=True, slots=True)
class TeamContext:
    """The authenticated caller and the team the path names; handed to every handler.

    Plain values, not ORM objects: a handler that needs a row loads it in its own session.
    """

    team_id: int
    organization_id: uuid.UUID
    ai_data_processing_approved: bool
    user_id: int


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated()
    return token


def _team_id(raw: str) -> int | None:
    """The team id in the path; None for `@current`, 0 (no team has it) for anything invalid."""
    if raw == CURRENT_TEAM:
        return None
    try:
        team_id = int(raw)
    except ValueError:
        return 0
    return team_id if 0 < team_id < 2**31 else 0


async def resolve_team(request: Request, session: Any, team_ref: str, scope: str) -> TeamContext:
    token = _bearer_token(request)
    team_id = _team_id(team_ref)
    caller = await IdentityRepository(session).caller(token, team_id)
    if caller is None:
        raise NotAuthenticated("Invalid personal API key.", code="authentication_failed")
    if not has_scope(caller.scopes, scope):
        raise PermissionDenied(f"API key missing required scope '{scope}'")

    if team_id is None and caller.current_team_id is None:
        raise NotFound("The user has no current project.")
    if team_id == 0:
        raise NotFound()
    if caller.team_id is None or caller.organization_id is None:
        raise NotFound("Project not found.")
    if not caller.is_member:
        raise PermissionDenied("You don't have access to the project.")
    if caller.scoped_teams and caller.team_id not in caller.scoped_teams:
        raise PermissionDenied("API key is not allowed to access this project.")
    if caller.scoped_organizations and caller.organization_id not in caller.scoped_organizations:
        raise PermissionDenied("API key is not allowed to access this organization.")

    await validate_request(request)
    return TeamContext(
        team_id=caller.team_id,
        organization_id=caller.organization_id,
        ai_data_processing_approved=caller.ai_data_processing_approved,
        user_id=caller.user_id,
    )


class RequireScope:
    """The dependency behind a scope alias: SPEC §3's checks for one scope on the path's team.

    `scope` is read back by the route class (`app.web.routing`), which lets the body be decoded
    only after this has run, and by the 405 routes' documentation (`app.web.methods`).
    """

    def __init__(self, scope: str) -> None:
        self.scope = scope

    async def __call__(
        self,
        request: Request,
        session: SessionDep,
        _bearer: BearerDep,
        environment_id: Annotated[str, Path(description=TEAM_PATH_DESCRIPTION)],
    ) -> TeamContext:
        return await resolve_team(request, session, environment_id, self.scope)


# `/api/environments/{environment_id}/…` families
CanReadDatasets = Annotated[TeamContext, Depends(RequireScope("dataset:read"))]
CanWriteDatasets = Annotated[TeamContext, Depends(RequireScope("dataset:write"))]
CanReadEvaluations = Annotated[TeamContext, Depends(RequireScope("evaluation:read"))]
CanWriteEvaluations = Annotated[TeamContext, Depends(RequireScope("evaluation:write"))]

# `/api/environments/{environment_id}/llm_analytics/…` families (SPEC writes `{project_id}`:
# the URLs are the same; the document names the team parameter alike on every route).
CanReadProviderKeys = Annotated[TeamContext, Depends(RequireScope("llm_provider_key:read"))]
CanWriteProviderKeys = Annotated[TeamContext, Depends(RequireScope("llm_provider_key:write"))]
CanReadLLMAnalytics = Annotated[TeamContext, Depends(RequireScope("llm_analytics:read"))]
CanWriteLLMAnalytics = Annotated[TeamContext, Depends(RequireScope("llm_analytics:write"))]
