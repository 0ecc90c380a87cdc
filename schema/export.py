"""Print the GraphQL schema (SDL): `python -m schema.export > docs/schema.graphql`."""

from schema.build import build_schema
from services.platform.config import Settings

if __name__ == "__main__":
    print(build_schema(Settings()))
