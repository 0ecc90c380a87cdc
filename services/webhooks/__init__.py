"""Outbound webhooks: endpoints, deliveries of the event log, Standard Webhooks signatures."""
