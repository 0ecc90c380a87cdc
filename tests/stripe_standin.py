"""A small local HTTP stand-in for the Stripe endpoints the gateway uses, so tests drive
the real `stripe` library over HTTP. It honours Idempotency-Key (a replay returns the
first response) and Stripe's test tokens: pm_card_visa / pm_card_mastercard succeed,
pm_card_chargeDeclined declines, pm_card_authenticationRequired needs action on
session and declines off session."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

CARDS = {
    "pm_card_visa": ("visa", "4242", "ok"),
    "pm_card_mastercard": ("mastercard", "4444", "ok"),
    "pm_card_chargeDeclined": ("visa", "0002", "decline"),
    "pm_card_authenticationRequired": ("visa", "3184", "authenticate"),
}


def _nested(form: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (metadata[key]=v) back into dicts."""
    out: dict[str, Any] = {}
    for key, value in form:
        if "[" in key:
            head, rest = key.split("[", 1)
            out.setdefault(head, {})[rest.rstrip("]")] = value
        else:
            out[key] = value
    return out


def _error(status: int, kind: str, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": kind, "code": code, "message": message, **extra}}, status_code=status
    )


class StripeStandIn:
    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.methods: dict[str, str] = {}  # saved pm id -> test token it came from
        self.replays: dict[str, tuple[int, Any]] = {}
        self.charges: list[dict[str, Any]] = []  # every PaymentIntent created
        self.refunded: list[dict[str, Any]] = []  # every Refund created
        self.sessions: dict[str, dict[str, Any]] = {}  # Checkout Sessions by id
        self.setups: dict[str, str] = {}  # completed checkouts' setup intents -> saved pm
        self.app = Starlette(
            routes=[
                Route("/v1/customers", self.customers, methods=["POST"]),
                Route("/v1/setup_intents", self.setup_intents, methods=["POST"]),
                Route("/v1/payment_methods/{pm}", self.payment_method, methods=["GET"]),
                Route("/v1/payment_intents", self.payment_intents, methods=["POST"]),
                Route("/v1/refunds", self.refunds, methods=["POST"]),
                Route("/v1/checkout/sessions", self.checkout_sessions, methods=["POST"]),
                Route("/v1/setup_intents/{seti}", self.setup_intent, methods=["GET"]),
            ]
        )

    def _id(self, prefix: str) -> str:
        return f"{prefix}_standin{next(self.ids)}"

    async def _idempotent(self, request: Request, handler: Any) -> JSONResponse:
        key = request.headers.get("idempotency-key")
        if key and key in self.replays:
            status, body = self.replays[key]
            return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"})
        form = _nested(parse_qsl((await request.body()).decode()))
        response: JSONResponse = handler(form)
        if key:
            import json

            self.replays[key] = (response.status_code, json.loads(bytes(response.body)))
        return response

    async def customers(self, request: Request) -> JSONResponse:
        return await self._idempotent(
            request, lambda form: JSONResponse({"id": self._id("cus"), "object": "customer"})
        )

    async def setup_intents(self, request: Request) -> JSONResponse:
        def handle(form: dict[str, Any]) -> JSONResponse:
            token = self.methods.get(form["payment_method"], form["payment_method"])
            if token not in CARDS:
                return _error(
                    400, "invalid_request_error", "resource_missing", "No such PaymentMethod"
                )
            saved = self._id("pm")
            self.methods[saved] = token
            return JSONResponse(
                {
                    "id": self._id("seti"),
                    "object": "setup_intent",
                    "status": "succeeded",
                    "customer": form["customer"],
                    "payment_method": saved,
                }
            )

        return await self._idempotent(request, handle)

    async def payment_method(self, request: Request) -> JSONResponse:
        pm = request.path_params["pm"]
        if pm not in self.methods:
            return _error(404, "invalid_request_error", "resource_missing", "No such PaymentMethod")
        brand, last4, _ = CARDS[self.methods[pm]]
        card = {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034}
        return JSONResponse({"id": pm, "object": "payment_method", "type": "card", "card": card})

    async def checkout_sessions(self, request: Request) -> JSONResponse:
        def handle(form: dict[str, Any]) -> JSONResponse:
            session_id = self._id("cs")
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": form["mode"],
                "customer": form["customer"],
                "success_url": form["success_url"],
                "metadata": form.get("metadata", {}),
                "url": f"https://checkout.stripe.test/c/{session_id}",
                "setup_intent": None,
            }
            self.sessions[session_id] = session
            return JSONResponse(session)

        return await self._idempotent(request, handle)

    def complete_checkout(self, session_id: str, card: str) -> dict[str, Any]:
        """What the customer does on Stripe's page: the session's setup intent gets a
        saved card; returns the session as the webhook reports it."""
        saved, setup = self._id("pm"), self._id("seti")
        self.methods[saved] = card
        self.setups[setup] = saved
        self.sessions[session_id]["setup_intent"] = setup
        return self.sessions[session_id]

    async def setup_intent(self, request: Request) -> JSONResponse:
        setup = request.path_params["seti"]
        if setup not in self.setups:
            return _error(404, "invalid_request_error", "resource_missing", "No such SetupIntent")
        return JSONResponse(
            {
                "id": setup,
                "object": "setup_intent",
                "status": "succeeded",
                "payment_method": self.setups[setup],
            }
        )

    async def refunds(self, request: Request) -> JSONResponse:
        """Refunds of intents this stand-in charged, never past what was charged."""

        def handle(form: dict[str, Any]) -> JSONResponse:
            intent = next((c for c in self.charges if c["id"] == form["payment_intent"]), None)
            if intent is None:
                return _error(400, "invalid_request_error", "resource_missing", "No such intent")
            amount = int(form.get("amount", intent["amount"]))
            done = sum(r["amount"] for r in self.refunded if r["payment_intent"] == intent["id"])
            if amount > intent["amount"] - done:
                return _error(
                    400, "invalid_request_error", "amount_too_large", "Refund exceeds the charge"
                )
            refund = {
                "id": self._id("re"),
                "object": "refund",
                "amount": amount,
                "currency": intent["currency"],
                "payment_intent": intent["id"],
                "status": "succeeded",
                "metadata": form.get("metadata", {}),
            }
            self.refunded.append(refund)
            return JSONResponse(refund)

        return await self._idempotent(request, handle)

    async def payment_intents(self, request: Request) -> JSONResponse:
        def handle(form: dict[str, Any]) -> JSONResponse:
            pm = form["payment_method"]
            if pm not in self.methods:
                return _error(
                    400, "invalid_request_error", "resource_missing", "No such PaymentMethod"
                )
            behaviour = CARDS[self.methods[pm]][2]
            off_session = form.get("off_session") == "true"
            intent = {
                "id": self._id("pi"),
                "object": "payment_intent",
                "amount": int(form["amount"]),
                "currency": form["currency"],
                "customer": form["customer"],
                "metadata": form.get("metadata", {}),
                "client_secret": None,
                "next_action": None,
                "last_payment_error": None,
            }
            self.charges.append(intent)
            if behaviour == "ok":
                return JSONResponse({**intent, "status": "succeeded"})
            if behaviour == "authenticate" and not off_session:
                return JSONResponse(
                    {
                        **intent,
                        "status": "requires_action",
                        "client_secret": f"{intent['id']}_secret_x",
                        "next_action": {"type": "use_stripe_sdk"},
                    }
                )
            declined = {**intent, "status": "requires_payment_method"}
            code = "authentication_required" if behaviour == "authenticate" else "card_declined"
            return _error(
                402, "card_error", code, "Your card was declined.", payment_intent=declined
            )

        return await self._idempotent(request, handle)
