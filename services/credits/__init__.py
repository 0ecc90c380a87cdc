"""The customer credit balance, refunds and credit notes."""
