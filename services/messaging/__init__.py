"""Getting events out (the outbox relay, publishers) and commands in (consumers)."""
