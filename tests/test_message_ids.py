"""Message ids: random version-4 UUIDs (read from os.urandom a block at a time), never the
same twice, and never the same in a forked worker as in its parent."""
from __future__ import annotations

import os
import uuid

import pytest

from emulator.core.model import new_uuid


def test_ids_are_distinct_version_4_uuids_in_their_usual_text():
    ids = [new_uuid() for _ in range(5000)]  # many blocks of randomness
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_worker_does_not_repeat_the_ids_its_parent_has_yet_to_give():
    new_uuid()  # the parent holds a block of randomness, mostly unused
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker's next ids
        os.write(write, ",".join(new_uuid() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    worker = set(os.read(read, 10_000).decode().split(","))
    os.close(read)
    parent = {new_uuid() for _ in range(10)}
    assert len(worker) == 10 and not worker & parent
