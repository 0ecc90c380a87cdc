"""What every domain runs on: settings, clock, database, unit of work, auth, rate limits, the worker."""
