"""Shared value types: business errors, pagination cursors, charge results, storable text."""
