"""The evaluation config's tests use the provider-key fakes (keys are created and validated)."""

from __future__ import annotations

import pytest

from app.settings import Settings
from tests.provider_keys.conftest import fake, provider_transport

__all__ = ["fake", "provider_transport"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"trial_eval_limit": 7})
