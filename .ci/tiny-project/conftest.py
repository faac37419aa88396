import pytest


@pytest.fixture
def client():
    """A fixture name msgemu's own test suite uses too: this project's wins here."""
    return {"name": "tiny"}
