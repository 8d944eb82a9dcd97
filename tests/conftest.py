"""Shared fixtures: every ``@pytest.mark.anyio`` test runs on asyncio and on trio."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """The anyio backend a test runs on; each async test runs once per backend."""
    return str(request.param)
