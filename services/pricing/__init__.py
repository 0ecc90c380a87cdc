"""The plan catalog and admin pricing: rules (rules.py), plan use cases, seeding, price-change broadcasts."""
