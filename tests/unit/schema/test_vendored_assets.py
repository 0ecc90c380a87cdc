"""Every asset the GraphiQL page names is vendored, byte-identical to what its
integrity hash promises, and the page names nothing on a CDN."""

from __future__ import annotations

import base64
import hashlib
import re

from resolvers.http.pages import VENDOR, asset_paths, graphiql_html


def test_graphiql_names_only_vendored_assets_whose_hashes_match():
    html = graphiql_html()
    assert "unpkg.com" not in html and "cdn" not in html.lower()
    tags = re.findall(r'(?:src|href)="/static/vendor/([^"]+)"\s+integrity="sha384-([^"]+)"', html)
    assert len(tags) == len(asset_paths(html)) == 7
    for path, expected in tags:
        data = (VENDOR / path).read_bytes()
        digest = base64.b64encode(hashlib.sha384(data).digest()).decode()
        assert digest == expected, path
