"""How a GraphQL request over HTTP is run: the lean entry, and the direct executor it
uses for the simplest documents."""
