"""Production hardening: no introspection, no suggestions, internal errors masked."""

from __future__ import annotations

from schema.build import build_schema
from services.platform.config import Settings

PRODUCTION = Settings(environment="production", jwt_secret="p" * 40)


async def test_production_refuses_introspection_and_hides_suggestions():
    schema = build_schema(PRODUCTION)
    introspection = await schema.execute("{ __schema { types { name } } }")
    assert introspection.errors and "introspection" in introspection.errors[0].message.lower()
    typo = await schema.execute("{ plns { code } }")
    assert typo.errors and "Did you mean" not in typo.errors[0].message


async def test_development_keeps_introspection_and_suggestions():
    schema = build_schema(Settings())
    assert not (await schema.execute("{ __schema { queryType { name } } }")).errors
    typo = await schema.execute("{ plns { code } }")
    assert typo.errors and "Did you mean 'plans'" in typo.errors[0].message


async def test_production_masks_unexpected_errors():
    schema = build_schema(PRODUCTION)
    # No context at all: the resolver fails with an internal error that must not leak.
    result = await schema.execute("{ plans { code } }", context_value=None)
    assert result.errors and result.errors[0].message == "Unexpected error."


async def test_production_still_shows_intended_errors(settings):
    from dataclasses import dataclass

    from schema.context import Context
    from services.platform.auth import Principal

    @dataclass
    class NoDeps:
        pass

    schema = build_schema(PRODUCTION)
    anonymous = Context(deps=NoDeps(), request=None, response=None, principal=None)  # type: ignore[arg-type]
    result = await schema.execute("{ me { userId } }", context_value=anonymous)
    assert result.errors and result.errors[0].extensions == {"code": "UNAUTHENTICATED"}
    user = Context(NoDeps(), None, None, Principal("eve", frozenset()))  # type: ignore[arg-type]
    forbidden = await schema.execute("{ adminSubscriptions { nodes { id } } }", context_value=user)
    assert forbidden.errors and forbidden.errors[0].extensions == {"code": "FORBIDDEN"}


async def test_the_http_entry_masks_unexpected_errors_and_refuses_introspection():
    import httpx

    from main import create_app

    broken = PRODUCTION.model_copy(update={"database_url": "postgresql://nobody@127.0.0.1:9/none"})
    app = create_app(broken)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        failing = await client.post("/graphql", json={"query": "{ plans { code } }"})
        assert failing.status_code == 200
        assert failing.json()["errors"][0]["message"] == "Unexpected error."
        assert "nobody" not in failing.text  # nothing about the database leaks
        introspection = await client.post(
            "/graphql", json={"query": "{ __schema { types { name } } }"}
        )
        assert "introspection" in introspection.json()["errors"][0]["message"].lower()
        typo = await client.post("/graphql", json={"query": "{ plns { code } }"})
        assert "Did you mean" not in typo.text
        bad_json = await client.post(
            "/graphql", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 400
