"""`llma generate-encryption-key` and `llma rotate-encryption-keys`: the ENCRYPTION_KEYS chores
(a fresh Fernet key; every stored secret re-encrypted with the first key)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from app.cli.common import CommandFactory
from app.cli.database import run_migrations, with_session
from app.db.embedded import resolve_database_url
from app.settings import Settings


def cmd_generate_encryption_key(args: argparse.Namespace, settings: Settings | None) -> int:
    from cryptography.fernet import Fernet

    sys.stdout.write(Fernet.generate_key().decode() + "\n")
    return 0


def cmd_rotate_encryption_keys(args: argparse.Namespace, settings: Settings) -> int:
    from app.crypto import build_secret_box
    from app.provider_keys.rotation import rotate_all

    box = build_secret_box(settings)
    url = resolve_database_url(settings)
    run_migrations(url)
    counts = asyncio.run(with_session(url, lambda session: rotate_all(session, box)))
    sys.stdout.write(
        f"re-encrypted {counts.rotated} secret(s); {counts.failed} could not be decrypted\n"
    )
    return 0 if counts.failed == 0 else 1


def register(command: CommandFactory) -> None:
    rotate = command("rotate-encryption-keys", "re-encrypt secrets with the first key")
    rotate.set_defaults(handler=cmd_rotate_encryption_keys)

    generate = command("generate-encryption-key", "print a fresh Fernet key (no database)")
    generate.set_defaults(handler=cmd_generate_encryption_key, needs_settings=False)
