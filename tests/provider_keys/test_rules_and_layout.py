"""The pure provider-key rules, and the shape of the provider-key packages: no commits outside
the database layer, no services looked up from `app.state`, no SQL in routers."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

from app.provider_keys.rules import check_activatable, key_format_error
from app.provider_keys.schemas import KeyStateName
from app.providers.base import KeyState
from app.web.errors import ValidationFailed

APP = Path(__file__).resolve().parents[2] / "app"
PACKAGES = ("provider_keys", "evaluation_config", "providers")


def test_only_ok_keys_may_become_active() -> None:
    check_activatable("ok", attr="key_id")
    for state in ("unknown", "invalid", "error"):
        with pytest.raises(ValidationFailed) as caught:
            check_activatable(state, attr="set_as_active", code=None)
        assert caught.value.detail == (
            f"Cannot activate key with state '{state}'. Please validate the key first."
        )
        assert (caught.value.attr, caught.value.code) == ("set_as_active", "invalid_input")


def test_key_formats() -> None:
    assert key_format_error("openai", "sk-proj-abc") is None
    assert key_format_error("anthropic", "sk-abc") is not None
    assert key_format_error("gemini", "anything") is None
    assert key_format_error("gemini", "with space") is not None


def _modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (APP / package).glob("*.py"))


def _calls(tree: ast.AST) -> set[str]:
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }


@pytest.mark.parametrize("path", _modules(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_no_commit_and_no_app_state(path: Path) -> None:
    source = path.read_text()
    assert "commit" not in _calls(ast.parse(source)), "only app/db commits"
    assert "from_request" not in source
    assert "app.state" not in source


@pytest.mark.parametrize("package", ["provider_keys", "evaluation_config"])
def test_routers_hold_no_sql(package: str) -> None:
    source = (APP / package / "router.py").read_text()
    for needle in ("sqlalchemy", "SessionDep", ".repo"):
        assert needle not in source


def test_key_state_names_match_the_enum() -> None:
    assert get_args(KeyStateName) == tuple(state.value for state in KeyState)
