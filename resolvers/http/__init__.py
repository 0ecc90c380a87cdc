"""HTTP beside GraphQL: the REST routes, Stripe webhooks, health and metrics, the
browser pages and their assets, and the request limits every request passes."""
