"""Redis adapters shared by the domains: the entitlement cache and the quota gate
(an atomic check-and-count). Each works without Redis by design (see their modules)."""
