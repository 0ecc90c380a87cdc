"""The GraphQL edge without a server: the byte-bounded document cache, and masking of
unexpected errors with a request id that finds the log line."""

from __future__ import annotations

import logging

from graphql import GraphQLError

from schema.build import build_schema, document_cache
from schema.errors import masked, public
from services.platform.config import Settings

PLANS = "{ plans { code } }"


def cache_for(max_bytes: int):  # type: ignore[no-untyped-def]
    settings = Settings(graphql_document_cache_bytes=max_bytes)
    documents = document_cache(settings)
    build_schema(settings, documents)
    return documents


def test_comment_padding_does_not_make_a_document_new():
    documents = cache_for(1024 * 1024)
    first = documents.prepare(PLANS)
    for n in range(200):
        padded = documents.prepare(f"{PLANS} # {n} {'x' * 10_000}")
        assert padded[0] is first[0]  # the same parsed document, found by its printed form
    assert len(documents) == 2  # the short text and the printed form; no padded text kept


def test_the_cache_stays_within_its_byte_budget():
    documents = cache_for(1024 * 1024)
    for n in range(2000):
        documents.prepare(f"{{ plans {{ code{' name' * (n % 50)} }} }} # {n}")
        assert documents.bytes <= documents.max_bytes
    assert documents.prepare(PLANS)[0] is not None


def test_invalid_documents_are_remembered_with_their_errors():
    documents = cache_for(1024 * 1024)
    document, errors = documents.prepare("{ plans { nope } }")
    assert document is None and "nope" in errors[0].message
    assert documents.prepare("{ plans { nope } }")[1] == errors


def test_an_unexpected_error_is_masked_and_logged_with_its_request_id(caplog):
    try:
        raise RuntimeError('invalid byte sequence: INSERT INTO plans VALUES ($1) ["secret"]')
    except RuntimeError as error:
        original = GraphQLError("boom", original_error=error, path=["archivePlan"])
    with caplog.at_level(logging.ERROR, logger="schema.errors"):
        shown = public(original)
    assert shown.message == "Unexpected error."
    assert shown.extensions is not None and shown.extensions["code"] == "INTERNAL_ERROR"
    request_id = shown.extensions["requestId"]
    assert "INSERT" not in str(shown.formatted) and "secret" not in str(shown.formatted)
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert "INSERT INTO plans" in str(logged[0].exc_info[1])


def test_intended_errors_are_shown_as_they_are():
    coded = GraphQLError("sign in", extensions={"code": "UNAUTHENTICATED"})
    assert public(coded) is coded
    assert masked(coded).extensions["code"] == "INTERNAL_ERROR"  # type: ignore[index]
