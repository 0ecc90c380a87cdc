"""The subscription lifecycle: its rules (state.py, lifecycle.py, pausing.py,
entitlements.py, fulfillment.py), its use cases, and the views they answer with."""
