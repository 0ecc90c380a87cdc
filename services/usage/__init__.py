"""Usage and quotas: meters, the units plans include, counting and enforcing usage."""
