"""Fulfillment channels (seed: multi-channel fulfillment): how each paid period is delivered."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from services.common.errors import DomainError, ErrorCode


class Channel(StrEnum):
    DIGITAL = "DIGITAL"
    SHIPPING = "SHIPPING"
    PICKUP = "PICKUP"


@dataclass(frozen=True)
class Address:
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Fulfillment:
    channel: Channel
    address: Address | None = None
    store_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel.value,
            "address": asdict(self.address) if self.address else None,
            "storeId": self.store_id,
        }


COUNTRY = re.compile(r"^[A-Z]{2}$")
STORE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def validate(fulfillment: Fulfillment) -> Fulfillment:
    """Each channel carries exactly what it needs and nothing else."""
    field = "fulfillment"
    if fulfillment.channel is Channel.SHIPPING:
        address = fulfillment.address
        if address is None:
            raise DomainError(ErrorCode.INVALID_INPUT, "shipping needs an address", field)
        for name in ("line1", "city", "postal_code"):
            value = getattr(address, name)
            if not value.strip() or len(value) > 200:
                raise DomainError(ErrorCode.INVALID_INPUT, f"address {name} is required", field)
        if not COUNTRY.match(address.country):
            raise DomainError(
                ErrorCode.INVALID_INPUT, "country must be an ISO 3166 alpha-2 code", field
            )
        if fulfillment.store_id is not None:
            raise DomainError(ErrorCode.INVALID_INPUT, "shipping takes no store id", field)
    elif fulfillment.channel is Channel.PICKUP:
        if fulfillment.store_id is None or not STORE_ID.match(fulfillment.store_id):
            raise DomainError(ErrorCode.INVALID_INPUT, "pickup needs a valid store id", field)
        if fulfillment.address is not None:
            raise DomainError(ErrorCode.INVALID_INPUT, "pickup takes no address", field)
    elif fulfillment.address is not None or fulfillment.store_id is not None:
        raise DomainError(ErrorCode.INVALID_INPUT, "digital takes no address or store", field)
    return fulfillment
