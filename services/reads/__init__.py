"""Read models and queries: views, the hot reads, the entitlement cache."""
