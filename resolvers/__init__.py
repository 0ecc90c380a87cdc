"""The edges: GraphQL (graphql/) and HTTP (http/). Each handler reads its input, calls
one use case in services/, and maps the result; no SQL and no business rules here."""
