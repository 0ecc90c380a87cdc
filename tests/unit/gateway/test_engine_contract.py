"""The Billing Engine's generated code matches proto/billing_engine.proto: regenerating
it (`python -m services.gateway.engine_codegen`) changes nothing."""

from __future__ import annotations

from services.gateway import engine_codegen
from services.gateway.engine import billing_engine_pb2 as pb


def test_the_generated_code_is_what_the_proto_generates(tmp_path):
    for generated in engine_codegen.generate(tmp_path):
        committed = engine_codegen.ROOT / engine_codegen.PACKAGE / generated.name
        assert committed.read_bytes() == generated.read_bytes(), (
            f"{committed.name} is stale: run python -m services.gateway.engine_codegen"
        )


def test_the_contract_names_clients_rely_on():
    service = pb.DESCRIPTOR.services_by_name["BillingEngine"]
    assert pb.DESCRIPTOR.package == "billing.v1"
    assert {m.name for m in service.methods} >= {
        "CreatePaymentIntent",
        "GetPaymentIntent",
        "CancelPaymentIntent",
        "RefundPayment",
    }
    statuses = set(pb.IntentStatus.keys())
    assert {"SUCCEEDED", "PROCESSING", "REQUIRES_ACTION", "FAILED"} <= statuses
    request = pb.CreatePaymentIntentRequest.DESCRIPTOR.fields_by_name
    assert {"idempotency_key", "amount_minor", "currency", "purpose", "off_session"} <= set(request)
