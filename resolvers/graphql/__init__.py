"""GraphQL: the lean /graphql entry, the Strawberry view (GraphiQL, websockets), and
the resolvers of queries, mutations and subscriptions, each calling one use case."""
