"""The money paths at bulk speed: the scheduler's plain renewals and batches of payment
results, decided by the same rules as everywhere and written a table at a time."""
