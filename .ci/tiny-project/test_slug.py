import pytest

from slug import slugify


@pytest.mark.parametrize("text, slug", [("Hello, World!", "hello-world"), ("  a  b ", "a-b"), ("", "")])
def test_slugify(text, slug):
    assert slugify(text) == slug


def test_own_fixture(client, tmp_path):
    (tmp_path / "x.txt").write_text(client["name"])
    assert (tmp_path / "x.txt").read_text() == "tiny"

