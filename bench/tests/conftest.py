"""Fixtures of bench's suite: the vegeta binary (built once into the toolchain cache)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import vegeta


@pytest.fixture(scope="session")
def vegeta_binary() -> Path:
    return vegeta.ensure()
