"""`llma rotate-encryption-keys`: re-encrypt every stored provider secret with the primary key."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import DecryptionError, SecretBox
from app.provider_keys.repository import secrets_after, store_secret

logger = logging.getLogger("app.provider_keys.rotation")
BATCH = 500


@dataclass
class RotationCounts:
    rotated: int = 0
    failed: int = 0


async def rotate_all(session: AsyncSession, box: SecretBox) -> RotationCounts:
    """Rotate in id order, in batches; the caller's transaction makes it all-or-nothing.

    A token no configured key can open is counted and left untouched (its key reads as state
    `error` until someone re-enters it), so one bad row never blocks the rest.
    """
    counts = RotationCounts()
    last_id = None
    while True:
        rows = await secrets_after(session, last_id, BATCH)
        if not rows:
            return counts
        for key_id, token in rows:
            try:
                rotated = box.rotate(token)
            except DecryptionError:
                counts.failed += 1
                logger.warning(
                    "provider key %s cannot be decrypted with any configured key", key_id
                )
                continue
            await store_secret(session, key_id, rotated)
            counts.rotated += 1
        last_id = rows[-1][0]
