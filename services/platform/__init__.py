"""What every domain runs on: settings, clock, auth, rate limits, the unit of work and
the dependencies a use case is handed (Deps)."""
