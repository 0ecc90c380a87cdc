"""Payment processors behind one interface: Stripe, the local gateway, and the
Billing Engine over gRPC. Adapters only: webhooks that act on payments are in services/app."""
