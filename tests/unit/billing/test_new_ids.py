"""Ids for bulk writes (services/bulk/statements.new_ids): random version-4 UUIDs."""

from __future__ import annotations

import uuid

from services.bulk.statements import new_ids


def test_new_ids_are_distinct_version_4_uuids():
    ids = new_ids(5000)
    assert len(ids) == 5000 and len(set(ids)) == 5000
    assert all(isinstance(i, uuid.UUID) for i in ids)
    assert {(i.version, i.variant) for i in ids} == {(4, uuid.RFC_4122)}
    # The random bits are all used: each of the 122 takes both values across the batch.
    ones = [sum(i.int >> bit & 1 for i in ids) for bit in range(128)]
    fixed = {76, 77, 78, 79, 62, 63}  # the version and variant bits
    assert all(0 < ones[bit] < len(ids) for bit in range(128) if bit not in fixed)
    assert new_ids(0) == []
