"""Persistence: the engine and sessions (db.py) and one repository of SQL per
aggregate. It sits below every domain and reads only their vocabulary (rules modules)."""
