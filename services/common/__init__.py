"""Shared value types at the bottom of every domain: business errors, pagination
cursors, storable text, concurrent tasks that stop together."""
