"""Collecting what is due: the lifecycle scheduler (trial conversions, renewals,
retries, expiry), payment results from processors (webhooks, Kafka, reconciliation),
hosted checkout sessions, the test clock, and the upcoming invoice. It orchestrates the
domains below it (subscriptions, credits, discounts, usage, bulk)."""
