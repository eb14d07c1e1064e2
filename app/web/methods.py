"""405 for the methods a path does not serve, answered after the caller's checks (SPEC §3, §4).

A router's paths declare what they allow by the routes they have; `refuse_other_methods`, called
once per router after its routes, adds for every other method a route that runs the path's
scope dependency (the read scope for GET/HEAD/OPTIONS, the write scope otherwise: 401, 403,
404 come first) and then answers 405 with `Allow`, before any query check. A path named in
`hard_delete` refuses DELETE with an empty body (SPEC §4) and documents it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Path, Response
from fastapi.params import Depends

from app.web.errors import MethodNotAllowed
from app.web.routing import APIRoute

ALL_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TEAM_PARAMS = ("environment_id", "project_id")
NOT_ALLOWED_DESCRIPTION = (
    'Hard delete of this model is not allowed. Use a PATCH call to set "deleted" to true.'
)


def scope_dependency(alias: Any) -> Depends:
    """The `Depends(...)` inside a scope alias such as `CanReadDatasets`."""
    for meta in get_args(alias)[1:]:
        if isinstance(meta, Depends):
            return meta
    raise TypeError(f"{alias!r} is not an Annotated[..., Depends(...)] scope alias")


def scope_name(alias: Any) -> str:
    """The scope string behind a `CanReadDatasets`-style alias (for documentation)."""
    return str(getattr(scope_dependency(alias).dependency, "scope", "unknown"))


def refuse_other_methods(
    router: APIRouter, *, read_scope: Any, write_scope: Any, hard_delete: Iterable[str] = ()
) -> None:
    """Add the 405 routes of every path `router` serves so far (paths relative to its prefix)."""
    served: dict[str, set[str]] = {}
    for route in router.routes:
        if isinstance(route, APIRoute) and not route.refuses_method:
            served.setdefault(route.path, set()).update(route.methods or ())
    hard_delete_paths = {router.prefix + path for path in hard_delete}
    unknown = hard_delete_paths - served.keys()
    if unknown:
        raise ValueError(f"hard_delete names paths the router does not serve: {sorted(unknown)}")
    for path, methods in served.items():
        _refuse(
            router,
            path.removeprefix(router.prefix),
            read_scope=read_scope,
            write_scope=write_scope,
            allowed=methods,
            hard_delete=path in hard_delete_paths,
        )


def _refuse(
    router: APIRouter,
    path: str,
    *,
    read_scope: Any,
    write_scope: Any,
    allowed: set[str],
    hard_delete: bool,
) -> None:
    allow = ", ".join(method for method in ALL_METHODS if method in allowed)
    names = [n for n in re.findall(r"{(\w+)}", router.prefix + path) if n not in TEAM_PARAMS]
    for method in ALL_METHODS:
        if method in allowed:
            continue
        scope = read_scope if method in READ_METHODS else write_scope
        documented = hard_delete and method == "DELETE"
        router.add_api_route(
            path,
            _not_allowed_endpoint(method, allow, empty_body=documented, path_names=names),
            methods=[method],
            dependencies=[scope_dependency(scope)],
            include_in_schema=documented,
            status_code=405,
            response_class=Response,
            summary="Hard delete is not allowed" if method == "DELETE" else "Not allowed",
            description=NOT_ALLOWED_DESCRIPTION
            + f"\n\nRequired API key scope: `{scope_name(scope)}`.",
            responses={405: {"description": "Method not allowed (no body)"}},
            name=f"{method.lower()}_not_allowed",
            operation_id=_operation_id(method, router.prefix + path),
        )
        route = router.routes[-1]
        assert isinstance(route, APIRoute), "refuse_other_methods needs an `api_router`"
        route.refuses_method = True


def _not_allowed_endpoint(
    method: str, allow: str, *, empty_body: bool, path_names: list[str]
) -> Any:
    """The endpoint: it declares the path's `{id}`, if any, so the documented operation
    stays valid (the team parameter comes with the scope dependency)."""
    if path_names == ["id"]:

        async def not_allowed_id(id: Annotated[str, Path()]) -> Response:
            raise MethodNotAllowed(method, allow=allow, empty_body=empty_body)

        return not_allowed_id
    if path_names:
        raise ValueError(f"no 405 endpoint declares the path parameters {path_names}")

    async def not_allowed() -> Response:
        raise MethodNotAllowed(method, allow=allow, empty_body=empty_body)

    return not_allowed


def _operation_id(method: str, path: str) -> str:
    """`destroy_datasets` for DELETE …/datasets/{id}/, like PostHog's `…_destroy`."""
    static = [part for part in path.split("/") if part and not part.startswith("{")]
    resource = "_".join(part for part in static if part not in ("api", "environments"))
    verb = "destroy" if method == "DELETE" else f"{method.lower()}_not_allowed"
    suffix = "" if path.rstrip("/").endswith("}") else "_collection"
    return f"{verb}_{resource}{suffix}"
