"""The schemathesis check `no_internal_error` (loaded with SCHEMATHESIS_HOOKS).

schemathesis counts every GraphQL error as a server error; a business error here is
coded (`extensions.code`), so only these are failures: an HTTP 5xx, a body that is not
JSON, a masked INTERNAL_ERROR, or an execution error (one with a `path`) that has no
code."""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def no_internal_error(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}")
    try:
        payload = response.json()
    except ValueError as error:
        raise AssertionError(f"not JSON: {response.text[:200]!r}") from error
    for error in (payload.get("errors") or []) if isinstance(payload, dict) else []:
        code = (error.get("extensions") or {}).get("code")
        if code == "INTERNAL_ERROR" or (code is None and error.get("path")):
            raise AssertionError(f"internal error: {error.get('message')!r}")
    return None
