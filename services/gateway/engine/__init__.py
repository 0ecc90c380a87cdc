"""Generated from proto/billing_engine.proto by `python -m services.gateway.engine_codegen`: do not edit."""
