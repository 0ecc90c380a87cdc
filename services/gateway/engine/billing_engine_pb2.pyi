from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Purpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PURPOSE_UNSPECIFIED: _ClassVar[Purpose]
    NEW_SUBSCRIPTION: _ClassVar[Purpose]
    TRIAL_CONVERSION: _ClassVar[Purpose]
    RENEWAL: _ClassVar[Purpose]
    RETRY: _ClassVar[Purpose]
    UPGRADE: _ClassVar[Purpose]

class IntentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTENT_STATUS_UNSPECIFIED: _ClassVar[IntentStatus]
    SUCCEEDED: _ClassVar[IntentStatus]
    PROCESSING: _ClassVar[IntentStatus]
    REQUIRES_ACTION: _ClassVar[IntentStatus]
    FAILED: _ClassVar[IntentStatus]
    CANCELED: _ClassVar[IntentStatus]

class RefundStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFUND_STATUS_UNSPECIFIED: _ClassVar[RefundStatus]
    REFUND_SUCCEEDED: _ClassVar[RefundStatus]
    REFUND_PENDING: _ClassVar[RefundStatus]
    REFUND_FAILED: _ClassVar[RefundStatus]
PURPOSE_UNSPECIFIED: Purpose
NEW_SUBSCRIPTION: Purpose
TRIAL_CONVERSION: Purpose
RENEWAL: Purpose
RETRY: Purpose
UPGRADE: Purpose
INTENT_STATUS_UNSPECIFIED: IntentStatus
SUCCEEDED: IntentStatus
PROCESSING: IntentStatus
REQUIRES_ACTION: IntentStatus
FAILED: IntentStatus
CANCELED: IntentStatus
REFUND_STATUS_UNSPECIFIED: RefundStatus
REFUND_SUCCEEDED: RefundStatus
REFUND_PENDING: RefundStatus
REFUND_FAILED: RefundStatus

class EnsureCustomerRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class Customer(_message.Message):
    __slots__ = ("customer_id",)
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    def __init__(self, customer_id: _Optional[str] = ...) -> None: ...

class AttachPaymentMethodRequest(_message.Message):
    __slots__ = ("customer_id", "payment_method_id")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_METHOD_ID_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    payment_method_id: str
    def __init__(self, customer_id: _Optional[str] = ..., payment_method_id: _Optional[str] = ...) -> None: ...

class PaymentMethod(_message.Message):
    __slots__ = ("payment_method_id", "brand", "last4", "exp_month", "exp_year")
    PAYMENT_METHOD_ID_FIELD_NUMBER: _ClassVar[int]
    BRAND_FIELD_NUMBER: _ClassVar[int]
    LAST4_FIELD_NUMBER: _ClassVar[int]
    EXP_MONTH_FIELD_NUMBER: _ClassVar[int]
    EXP_YEAR_FIELD_NUMBER: _ClassVar[int]
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    def __init__(self, payment_method_id: _Optional[str] = ..., brand: _Optional[str] = ..., last4: _Optional[str] = ..., exp_month: _Optional[int] = ..., exp_year: _Optional[int] = ...) -> None: ...

class CreatePaymentIntentRequest(_message.Message):
    __slots__ = ("idempotency_key", "customer_id", "user_id", "amount_minor", "currency", "purpose", "subscription_id", "invoice_id", "off_session", "payment_method_id", "description", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIPTION_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    OFF_SESSION_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_METHOD_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    customer_id: str
    user_id: str
    amount_minor: int
    currency: str
    purpose: Purpose
    subscription_id: str
    invoice_id: str
    off_session: bool
    payment_method_id: str
    description: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, idempotency_key: _Optional[str] = ..., customer_id: _Optional[str] = ..., user_id: _Optional[str] = ..., amount_minor: _Optional[int] = ..., currency: _Optional[str] = ..., purpose: _Optional[_Union[Purpose, str]] = ..., subscription_id: _Optional[str] = ..., invoice_id: _Optional[str] = ..., off_session: _Optional[bool] = ..., payment_method_id: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class PaymentIntent(_message.Message):
    __slots__ = ("intent_id", "status", "client_secret", "decline_code", "failure_message", "amount_minor", "currency")
    INTENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    DECLINE_CODE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    intent_id: str
    status: IntentStatus
    client_secret: str
    decline_code: str
    failure_message: str
    amount_minor: int
    currency: str
    def __init__(self, intent_id: _Optional[str] = ..., status: _Optional[_Union[IntentStatus, str]] = ..., client_secret: _Optional[str] = ..., decline_code: _Optional[str] = ..., failure_message: _Optional[str] = ..., amount_minor: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class GetPaymentIntentRequest(_message.Message):
    __slots__ = ("intent_id",)
    INTENT_ID_FIELD_NUMBER: _ClassVar[int]
    intent_id: str
    def __init__(self, intent_id: _Optional[str] = ...) -> None: ...

class CancelPaymentIntentRequest(_message.Message):
    __slots__ = ("intent_id", "idempotency_key")
    INTENT_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    intent_id: str
    idempotency_key: str
    def __init__(self, intent_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class RefundPaymentRequest(_message.Message):
    __slots__ = ("idempotency_key", "intent_id", "amount_minor", "reason")
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    INTENT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    intent_id: str
    amount_minor: int
    reason: str
    def __init__(self, idempotency_key: _Optional[str] = ..., intent_id: _Optional[str] = ..., amount_minor: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class Refund(_message.Message):
    __slots__ = ("refund_id", "status", "amount_minor")
    REFUND_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    refund_id: str
    status: RefundStatus
    amount_minor: int
    def __init__(self, refund_id: _Optional[str] = ..., status: _Optional[_Union[RefundStatus, str]] = ..., amount_minor: _Optional[int] = ...) -> None: ...
