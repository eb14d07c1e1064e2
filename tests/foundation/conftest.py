from __future__ import annotations

import pytest

from tests.foundation.probe import router


@pytest.fixture
def app(app: object) -> object:
    app.include_router(router)  # type: ignore[attr-defined]
    return app
