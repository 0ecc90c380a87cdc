"""docs/schema.graphql is the published contract: it must match what the code serves.
After an intended change, regenerate it with:
    python -m schema.build > docs/schema.graphql
"""

from __future__ import annotations

from pathlib import Path

from schema.build import build_schema
from services.platform.config import Settings

CONTRACT = Path(__file__).resolve().parents[3] / "docs" / "schema.graphql"


def test_published_schema_matches_the_code():
    assert str(build_schema(Settings())) == CONTRACT.read_text().rstrip("\n")


def test_contract_names_clients_rely_on_are_present():
    sdl = CONTRACT.read_text()
    for name in (
        "mySubscription: Subscription",
        "myEntitlements: Entitlements!",
        # an optional userId (admins) was added; every earlier query still validates
        "invoices(first: Int! = 20, after: String = null, userId: String = null): InvoiceConnection!",
        "subscribe(input: SubscribeInput!): SubscriptionPayload!",
        "cancelSubscription(input: CancelSubscriptionInput = null): SubscriptionPayload!",
        "setPlanPrice(input: SetPlanPriceInput!): PlanPayload!",
        "subscriptionStatus(userId: String!): SubscriptionStatusInfo!",
    ):
        assert name in sdl, name
