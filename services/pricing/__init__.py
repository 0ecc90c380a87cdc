"""The plan catalog and admin pricing: rules (rules.py, periods.py), plan use cases,
seeding, price-change broadcasts, and the catalog views."""
