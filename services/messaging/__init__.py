"""Getting events out: domain events (CloudEvents envelopes), publishers (Kafka,
in-process) and the Kafka consumer loop, and live updates. The relay and the message
handlers that use the domains live in services/app."""
