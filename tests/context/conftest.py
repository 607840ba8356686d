from __future__ import annotations

import pytest
from coding_director.context import DocumentStore


@pytest.fixture
def store() -> DocumentStore:
    return DocumentStore()
