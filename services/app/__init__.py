"""Wiring and the doors in: the background worker and its loops (the lifecycle
scheduler, the outbox relay, broadcasts, reconciliation), consumers of Kafka messages,
Stripe webhooks (payments and refunds), migrations with seeding, readiness checks, and
the Billing Engine stand-in. The top layer: it may use every domain, none uses it."""
