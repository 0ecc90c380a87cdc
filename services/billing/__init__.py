"""Payments, invoices and renewals: rules (rules.py, periods.py, proration.py), charging and payment results."""
