"""Test clocks per customer (TEST_CLOCK=1 only): a clock of their own for the customers
attached to it, advanced apart from everyone else's time."""
