"""Read models and queries: the hot reads, the console metrics and the money audit."""
