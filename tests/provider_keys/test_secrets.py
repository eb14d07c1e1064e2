"""Secrets at rest (SPEC §7): Fernet tokens in the column, key rotation, the development key
file, production refusing to start, and keys that can no longer be decrypted."""

from __future__ import annotations

import asyncio
import logging
import stat
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import (
    DecryptionError,
    EncryptionConfigError,
    SecretBox,
    build_secret_box,
    mask_key,
)
from app.main import create_app
from app.provider_keys.rotation import rotate_all
from app.settings import Settings
from tests.factories import Identity
from tests.provider_keys.conftest import OPENAI_KEY, FakeProviders, base_path, create_key


async def raw_token(session: AsyncSession, key_id: str) -> str:
    token = await session.scalar(
        text("SELECT encrypted_api_key FROM llm_provider_keys WHERE id = :id"),
        {"id": uuid.UUID(key_id)},
    )
    assert isinstance(token, str)
    return token


def primary_key(settings: Settings) -> str:
    assert settings.encryption_keys is not None
    return settings.encryption_keys.get_secret_value()


async def test_the_column_holds_a_fernet_token(
    api: httpx.AsyncClient, identity: Identity, session: AsyncSession, settings: Settings
) -> None:
    key = await create_key(api, identity.team.id)
    token = await raw_token(session, key["id"])
    assert OPENAI_KEY not in token
    assert token.startswith("gAAAAA")  # Fernet version byte 0x80, base64url
    assert Fernet(primary_key(settings).encode()).decrypt(token.encode()).decode() == OPENAI_KEY
    masked = await session.scalar(
        text("SELECT api_key_masked FROM llm_provider_keys WHERE id = :id"),
        {"id": uuid.UUID(key["id"])},
    )
    assert masked == "sk-p...0123"


async def test_rotation_then_dropping_the_old_key(
    app: object,
    api: httpx.AsyncClient,
    identity: Identity,
    session: AsyncSession,
    settings: Settings,
    fake: FakeProviders,
) -> None:
    key = await create_key(api, identity.team.id)
    old = primary_key(settings)
    new = Fernet.generate_key().decode()
    before = await raw_token(session, key["id"])

    counts = await rotate_all(session, build_secret_box(_with_keys(settings, f"{new},{old}")))
    await session.commit()
    assert (counts.rotated, counts.failed) == (1, 0)
    after = await raw_token(session, key["id"])
    assert after != before
    assert SecretBox([new.encode()]).decrypt(after) == OPENAI_KEY

    # The operator drops the old key: the service still reads and uses the stored key.
    app.state.secret_box = build_secret_box(_with_keys(settings, new))  # type: ignore[attr-defined]
    url = f"{base_path(identity.team.id)}/provider_keys/{key['id']}/"
    assert (await api.get(url)).json()["state"] == "ok"
    fake.requests.clear()
    assert (await api.post(f"{url}validate/")).json()["state"] == "ok"
    assert fake.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"


async def test_an_undecryptable_key_reads_as_error_never_500(
    app: object,
    api: httpx.AsyncClient,
    identity: Identity,
    session: AsyncSession,
    fake: FakeProviders,
) -> None:
    key = await create_key(api, identity.team.id, set_as_active=True)
    # The encryption key was lost: a box with an unrelated key.
    app.state.secret_box = SecretBox([Fernet.generate_key()])  # type: ignore[attr-defined]
    base = base_path(identity.team.id)
    url = f"{base}/provider_keys/{key['id']}/"
    for response in (await api.get(url), (await api.get(f"{base}/provider_keys/")).json()):
        body = response.json() if isinstance(response, httpx.Response) else response["results"][0]
        assert body["state"] == "error"
        assert "cannot be decrypted" in body["error_message"]
    config = (await api.get(f"{base}/evaluation_config/")).json()
    assert config["active_provider_key"]["state"] == "error"
    fake.requests.clear()
    validated = await api.post(f"{url}validate/")
    assert validated.status_code == 200
    assert validated.json()["state"] == "error"
    models = await api.get(f"{base}/models/?provider=openai&key_id={key['id']}")
    assert (models.status_code, models.json()["attr"]) == (400, "key_id")
    refused = await api.post(
        f"{base}/evaluation_config/set_active_key/", json={"key_id": key["id"]}
    )
    assert refused.status_code == 400
    assert fake.requests == []
    counts = await rotate_all(session, app.state.secret_box)  # type: ignore[attr-defined]
    assert (counts.rotated, counts.failed) == (0, 1)


def _with_keys(settings: Settings, keys: str | None) -> Settings:
    return settings.model_copy(
        update={"encryption_keys": SecretStr(keys) if keys is not None else None}
    )


def test_development_key_file_is_created_once_with_mode_0600(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(_env_file=None, encryption_keys=None, data_dir=tmp_path / "data")
    with caplog.at_level(logging.WARNING, logger="app.crypto"):
        first = build_secret_box(settings)
    path = tmp_path / "data" / "encryption.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert any("ENCRYPTION_KEYS is not set" in r.getMessage() for r in caplog.records)
    token = first.encrypt("hello")
    caplog.clear()
    second = build_secret_box(settings)
    assert second.decrypt(token) == "hello"
    assert not any("generated" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "keys", [None, "", "not-a-fernet-key", f"{Fernet.generate_key().decode()},bad"]
)
def test_production_refuses_to_start_without_a_valid_key(keys: str | None, tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None, app_env="production", encryption_keys=keys, data_dir=tmp_path
    )
    with pytest.raises(EncryptionConfigError, match="ENCRYPTION_KEYS"):
        build_secret_box(settings)
    with pytest.raises(EncryptionConfigError):
        create_app(settings)
    assert not (tmp_path / "encryption.key").exists()


def test_malformed_keys_stop_development_too() -> None:
    settings = Settings(_env_file=None, encryption_keys="abc,def")
    with pytest.raises(EncryptionConfigError, match="key #1") as caught:
        build_secret_box(settings)
    assert "abc" not in str(caught.value)


def test_box_and_mask() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    token = SecretBox([old]).encrypt("secret-value")
    both = SecretBox([new, old])
    rotated = both.rotate(token)
    assert SecretBox([new]).decrypt(rotated) == "secret-value"
    with pytest.raises(DecryptionError):
        SecretBox([new]).decrypt(token)
    with pytest.raises(DecryptionError):
        both.decrypt("garbage")
    assert "secret" not in repr(both)
    assert mask_key("sk-1234567890") == "sk-1...7890"
    assert mask_key("12345678") == "****"
    assert mask_key("") == "****"


def test_cli_rotates_committed_keys(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`llma rotate-encryption-keys` end to end. The CLI opens its own connection, so this test
    commits a real row (in its own organization) and deletes it afterwards."""
    from app.cli import main
    from app.settings import get_settings

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretBox([old.encode()]).encrypt(OPENAI_KEY)
    organization_id = asyncio.run(_seed_committed_key(database_url, token))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("ENCRYPTION_KEYS", f"{new},{old}")
        monkeypatch.setenv("LOG_FORMAT", "console")
        get_settings.cache_clear()
        assert main(["rotate-encryption-keys"]) == 0
        assert capsys.readouterr().out == "re-encrypted 1 secret(s); 0 could not be decrypted\n"
        (stored,) = asyncio.run(_tokens(database_url, organization_id))
        assert SecretBox([new.encode()]).decrypt(stored) == OPENAI_KEY
    finally:
        # The CLI configured logging for a process; give the rest of the suite its own back.
        root.handlers[:] = handlers
        root.setLevel(level)
        get_settings.cache_clear()
        asyncio.run(_delete_organization(database_url, organization_id))


async def _seed_committed_key(database_url: str, token: str) -> uuid.UUID:
    from app.db.engine import create_engine, create_sessionmaker
    from app.models import LLMProviderKey, Organization, Team

    engine = create_engine(database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            organization = Organization(name="rotation-test")
            session.add(organization)
            await session.flush()
            team = Team(organization_id=organization.id, name="rotation-test")
            session.add(team)
            await session.flush()
            session.add(
                LLMProviderKey(
                    team_id=team.id,
                    provider="openai",
                    name="committed",
                    encrypted_api_key=token,
                    api_key_masked=mask_key(OPENAI_KEY),
                )
            )
            return organization.id
    finally:
        await engine.dispose()


async def _tokens(database_url: str, organization_id: uuid.UUID) -> list[str]:
    from app.db.engine import create_engine

    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT k.encrypted_api_key FROM llm_provider_keys k "
                    "JOIN teams t ON t.id = k.team_id WHERE t.organization_id = :org"
                ),
                {"org": organization_id},
            )
            return [row[0] for row in rows]
    finally:
        await engine.dispose()


async def _delete_organization(database_url: str, organization_id: uuid.UUID) -> None:
    from app.db.engine import create_engine

    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM organizations WHERE id = :org"), {"org": organization_id}
            )
    finally:
        await engine.dispose()
