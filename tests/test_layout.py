"""The house rules of `app/` that a reviewer would otherwise check by eye (issue 17): only the
database layer commits, no module over 300 lines, every module opens with a docstring, and the
README's Layout section names every part of `app/`."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
DATABASE_LAYER = APP / "db"
# Generated revisions keep Alembic's layout; their length is the schema's, not a design choice.
REVISIONS = DATABASE_LAYER / "migrations" / "versions"
MAX_LINES = 300


def modules() -> list[Path]:
    found = sorted(APP.rglob("*.py"))
    assert len(found) > 50, f"found only {len(found)} modules under {APP}"
    return found


def name(path: Path) -> str:
    return str(path.relative_to(APP.parent))


# `begin()` opens a transaction that commits as its block ends: a commit by another name.
TRANSACTION_CALLS = ("commit", "begin")


def commit_calls(path: Path) -> list[int]:
    """Lines calling `<anything>.commit(…)` or `.begin(…)`; comments and docstrings do not
    count."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in TRANSACTION_CALLS
    )


def test_only_the_database_layer_commits() -> None:
    # A route that calls a provider ends its read with `app.db.session.end_transaction`, and
    # work that must stick on its own runs in `app.db.session.transaction`.
    offenders = [
        f"{name(path)}:{line}"
        for path in modules()
        if not path.is_relative_to(DATABASE_LAYER)
        for line in commit_calls(path)
    ]
    where = ", ".join(offenders)
    assert offenders == [], f"commit() or begin() outside app/db/ (use app.db.session): {where}"


def test_the_commit_check_sees_a_commit() -> None:
    # The database layer itself commits; a check that finds nothing there finds nothing at all.
    assert commit_calls(DATABASE_LAYER / "session.py")


def test_no_module_is_over_300_lines() -> None:
    too_long = {
        name(path): lines
        for path in modules()
        if not path.is_relative_to(REVISIONS)
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"modules over {MAX_LINES} lines: split them by what they do"


def test_every_module_opens_with_a_docstring() -> None:
    missing = [
        name(path)
        for path in modules()
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=True)
    ]
    assert missing == [], "modules without a docstring saying what lives there: " + ", ".join(
        missing
    )


def test_the_readme_layout_shows_every_top_level_entry() -> None:
    readme = (APP.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Layout\n", 1)[1].split("\n```\n", 2)[1]
    shown = {line.split()[0] for line in section.splitlines() if line.startswith("  ")}
    entries = {
        f"{path.name}/" if path.is_dir() else path.name
        for path in APP.iterdir()
        if path.name not in ("__init__.py", "__pycache__")
        and (path.suffix == ".py" or (path / "__init__.py").exists())
    }
    assert "cli/" in entries
    assert entries - shown == set(), "README's Layout section misses these parts of app/"
