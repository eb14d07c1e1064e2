"""Generating personal API keys, and the digest and mask that are all we store of them."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "phx_"


def generate_key() -> str:
    # 32 random bytes → 43 url-safe characters after the prefix.
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def mask(key: str) -> str:
    return f"{key[:4]}...{key[-4:]}"
