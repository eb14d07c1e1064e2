"""The deployment path as shipped, checked without Docker: the wheel the image installs serves
from an empty folder, the build context holds what the Dockerfile copies and nothing heavy,
docker-compose.yml hangs together, and the `alembic` command line finds the packaged migrations.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from app.cli import CommandError, build_parser
from app.cli.serve import check_serve_settings
from app.settings import Settings
from tests import database
from tests.reliability.harness import free_port

ROOT = Path(__file__).resolve().parent.parent


def _dockerfile_copy_sources() -> list[str]:
    """The build-context paths the Dockerfile copies (not those copied from another stage)."""
    sources: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        parts = line.split()
        if not parts or parts[0].upper() != "COPY":
            continue
        if any(part.startswith("--from") for part in parts):
            continue
        paths = [part for part in parts[1:] if not part.startswith("--")]
        sources.extend(paths[:-1])
    return sources


def _dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule for the patterns used here: a match excludes the path and what is below."""
    parts = path.split("/")
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch("/".join(parts[:n]), pattern) for n in range(1, len(parts) + 1)):
            return True
    return False


def test_docker_build_context() -> None:
    sources = _dockerfile_copy_sources()
    assert set(sources) == {"pyproject.toml", "README.md", "app"}
    for source in sources:
        assert (ROOT / source).exists(), source
    patterns = _dockerignore_patterns()
    for heavy in (".venv", ".data", "bench/.data", ".git", ".env", ".mypy_cache"):
        assert _ignored(heavy, patterns), heavy
    assert _ignored("app/__pycache__/cli.cpython-311.pyc", patterns)
    # Everything the image installs reaches the build, migrations included.
    shipped = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "app").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert "app/db/migrations/env.py" in shipped
    assert not [path for path in [*sources, *shipped] if _ignored(path, patterns)]


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}` / `${VAR:-default}`, as the file uses them."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3) or ""
        return env.get(name) or default

    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", replace, value)


def test_compose_file() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    # `docker compose run --rm --no-deps api llma generate-encryption-key` must work before
    # ENCRYPTION_KEYS exists: no variable may be required (`${VAR:?…}`) for the file to load.
    assert re.search(r"\$\{\w+:?\?", text) is None
    compose: dict[str, Any] = yaml.safe_load(text)
    services = compose["services"]
    db, api = services["db"], services["api"]

    assert db["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    volume, _, mount = db["volumes"][0].partition(":")
    assert volume in compose["volumes"]
    assert mount == "/var/lib/postgresql/data"

    assert api["build"] == "."
    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    env = {name: _interpolate(str(value), {}) for name, value in api["environment"].items()}
    assert env["APP_ENV"] == "production"
    url = make_url(env["DATABASE_URL"])
    db_env = {name: _interpolate(str(value), {}) for name, value in db["environment"].items()}
    assert url.drivername == "postgresql+asyncpg"
    assert (url.host, url.port) == ("db", 5432)
    assert url.username == db_env["POSTGRES_USER"]
    assert url.password == db_env["POSTGRES_PASSWORD"]
    assert url.database == db_env["POSTGRES_DB"]
    assert api["ports"] == [f"{env['PORT']}:{env['PORT']}"]

    # Without ENCRYPTION_KEYS the service refuses to start, naming it; with one it would start.
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in env.items()})  # type: ignore[arg-type]
    with pytest.raises(CommandError, match="ENCRYPTION_KEYS"):
        check_serve_settings(settings)
    key = Fernet.generate_key().decode()
    with_key = {
        name: _interpolate(str(value), {"ENCRYPTION_KEYS": key})
        for name, value in api["environment"].items()
    }
    assert with_key["ENCRYPTION_KEYS"] == key
    check_serve_settings(Settings(_env_file=None, **{k.lower(): v for k, v in with_key.items()}))  # type: ignore[arg-type]

    # The experiment worker: the api's image, after the api (which migrates) is healthy, with
    # the same database and keys.
    worker = services["worker"]
    assert worker["image"] == api["image"]
    assert worker["command"][:2] == ["llma", "worker"]
    assert worker["depends_on"]["api"]["condition"] == "service_healthy"
    for name in ("APP_ENV", "DATABASE_URL", "ENCRYPTION_KEYS"):
        assert worker["environment"][name] == api["environment"][name], name

    # A worker service belongs in the file once the CLI has a worker command.
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert ("worker" in commands) == ("worker" in services)


def test_alembic_ini_finds_the_packaged_migrations() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from app.db.migrate import MIGRATIONS_DIR, alembic_config

    script = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
    assert Path(script.dir).resolve() == MIGRATIONS_DIR == ROOT / "app" / "db" / "migrations"
    packaged = ScriptDirectory.from_config(alembic_config("postgresql://unused/db"))
    assert script.get_heads() == packaged.get_heads() != []


def test_make_run_passes_port_and_host() -> None:
    done = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "run", "PORT=8001", "HOST=0.0.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "llma serve --host 0.0.0.0 --port 8001" in done.stdout


def _clean_install(tmp_path: Path) -> Path:
    """The image's layout outside Docker: the wheel built from exactly what the Dockerfile
    copies, installed (not editable) into a new virtualenv; returns its bin folder."""
    context = tmp_path / "context"
    context.mkdir()
    for source in _dockerfile_copy_sources():
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(
                path, context / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy(path, context / source)
    wheels = tmp_path / "dist"
    offline = ["--no-deps", "--no-build-isolation", "--no-index", "-q"]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *offline, "-w", wheels, context],
        check=True,
        capture_output=True,
        timeout=180,
    )
    (wheel,) = wheels.glob("llma-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"app/db/migrations/env.py", "app/db/migrations/script.py.mako"} <= names
    assert any(re.fullmatch(r"app/db/migrations/versions/[^/]+\.py", name) for name in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies (and pip) come from this environment as a plain path entry: .pth files
    # there, among them the editable install of this checkout, are not processed.
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "llma-dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", wheel],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return venv / "bin"


def test_clean_wheel_install_migrates_and_serves(server_url: str, tmp_path: Path) -> None:
    bin_dir = _clean_install(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    url = asyncio.run(database.create_database(server_url, prefix="llma_wheel"))
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "APP_ENV": "production",
        "DATABASE_URL": url,
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=empty, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    try:
        probe = run(
            "python", "-c", "import sys, app.main; print(app.__file__, 'pgserver' in sys.modules)"
        )
        assert probe.returncode == 0, probe.stderr
        location, pgserver_loaded = probe.stdout.split()
        assert Path(location).is_relative_to(bin_dir.parent), location
        assert pgserver_loaded == "False"

        migrated = run("llma", "migrate")
        assert migrated.returncode == 0, migrated.stderr
        assert migrated.stdout == ""
        assert asyncio.run(_revision(url)) is not None

        port = free_port()
        process = subprocess.Popen(
            ["llma", "serve", "--port", str(port)],
            cwd=empty,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            status = _wait_ready(f"http://127.0.0.1:{port}/readyz", process)
        finally:
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        assert status == 200, err
        assert "phx_" not in out + err  # production never creates the demo key
        assert list(empty.iterdir()) == []
    finally:
        asyncio.run(database.drop_database(server_url, url))


async def _revision(url: str) -> str | None:
    connection = await asyncpg.connect(**database.connect_kwargs(url))
    try:
        revision: str | None = await connection.fetchval("SELECT version_num FROM alembic_version")
        return revision
    finally:
        await connection.close()


def _wait_ready(url: str, process: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return -1
        try:
            return httpx.get(url, timeout=2).status_code
        except httpx.TransportError:
            time.sleep(0.2)
    return -2
