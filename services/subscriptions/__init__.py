"""The subscription lifecycle: its rules (state.py, lifecycle.py, entitlements.py) and its use cases."""
