"""Invoices and payments: the rules (rules.py, proration.py), charging through the
gateway, payment methods, idempotency keys, and their views."""
