"""Encryption at rest for provider secrets: a MultiFernet box, its construction, key masking.

`ENCRYPTION_KEYS` is a comma-separated list of Fernet keys: the first encrypts, all decrypt,
so an operator rotates by prepending a new key, running `llma rotate-encryption-keys`, and then
dropping the old one (SPEC §7).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.settings import Settings

logger = logging.getLogger("app.crypto")

KEY_FILE_NAME = "encryption.key"


class DecryptionError(Exception):
    """A stored token that none of the configured keys can open (or that is not a token)."""


class EncryptionConfigError(RuntimeError):
    """`ENCRYPTION_KEYS` is missing (in production) or malformed: the service must not start."""


class SecretBox:
    """Encrypts and decrypts secrets; the only place plaintext and tokens meet."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise EncryptionConfigError("ENCRYPTION_KEYS: at least one key is required")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def __repr__(self) -> str:
        return "SecretBox(<redacted>)"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise DecryptionError("The stored secret cannot be decrypted.") from None

    def rotate(self, token: str) -> str:
        """The same secret re-encrypted with the primary (first) key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError, ValueError):
            raise DecryptionError("The stored secret cannot be decrypted.") from None


def parse_keys(raw: str) -> list[bytes]:
    """Split and check `ENCRYPTION_KEYS`; the error never echoes a key."""
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts:
        raise EncryptionConfigError("ENCRYPTION_KEYS is empty: set at least one Fernet key")
    keys: list[bytes] = []
    for position, part in enumerate(parts, start=1):
        try:
            Fernet(part.encode("ascii"))
        except (ValueError, UnicodeError):
            raise EncryptionConfigError(
                f"ENCRYPTION_KEYS: key #{position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes; `llma generate-encryption-key` makes one)"
            ) from None
        keys.append(part.encode("ascii"))
    return keys


def _development_key(data_dir: Path) -> bytes:
    """Read, or create once with mode 0600, the development key file under DATA_DIR."""
    path = data_dir / KEY_FILE_NAME
    if path.exists():
        keys = parse_keys(path.read_text(encoding="ascii"))
        return keys[0]
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # O_EXCL: two workers starting together must not overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return parse_keys(path.read_text(encoding="ascii"))[0]
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.decode("ascii") + "\n")
    logger.warning(
        "ENCRYPTION_KEYS is not set: generated a development key in %s. "
        "Set ENCRYPTION_KEYS before storing real secrets (required when APP_ENV=production).",
        path,
    )
    return key


def build_secret_box(settings: Settings) -> SecretBox:
    """The box for this process; raises EncryptionConfigError when start-up must stop."""
    raw = settings.encryption_keys.get_secret_value() if settings.encryption_keys else ""
    if raw.strip():
        return SecretBox(parse_keys(raw))
    if settings.is_production:
        raise EncryptionConfigError(
            "ENCRYPTION_KEYS is required when APP_ENV=production "
            "(generate one with `llma generate-encryption-key`)"
        )
    key = _development_key(settings.data_dir)
    if path_is_loose(settings.data_dir / KEY_FILE_NAME):
        logger.warning("%s is readable by other users; chmod 600 it", KEY_FILE_NAME)
    return SecretBox([key])


def path_is_loose(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & 0o077)
    except OSError:
        return False


def mask_key(plaintext: str) -> str:
    """`first4...last4` for keys longer than 8 characters, else `****` (SPEC §5.3)."""
    if len(plaintext) > 8:
        return f"{plaintext[:4]}...{plaintext[-4:]}"
    return "****"
