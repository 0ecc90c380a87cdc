"""The batch-size settings refuse values that would stall or swamp the worker."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.platform.config import Settings


@pytest.mark.parametrize("size", [0, -5, 20_001])
def test_a_scheduler_batch_size_out_of_range_is_refused(monkeypatch, size):
    monkeypatch.setenv("SCHEDULER_BATCH_SIZE", str(size))
    with pytest.raises(ValidationError, match="scheduler_batch_size"):
        Settings()


def test_the_scheduler_batch_size_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("SCHEDULER_BATCH_SIZE", "300")
    assert Settings().scheduler_batch_size == 300
    monkeypatch.delenv("SCHEDULER_BATCH_SIZE")
    assert Settings().scheduler_batch_size == 2000


@pytest.mark.parametrize("size", ["0", "many"])
def test_an_outbox_batch_size_that_is_not_a_positive_number_is_refused(monkeypatch, size):
    monkeypatch.setenv("OUTBOX_BATCH_SIZE", size)
    with pytest.raises(ValidationError, match="outbox_batch_size"):
        Settings()
