"""Accounts and grants stored as replicated rows: ``store`` (the tables, host matching) and
``privileges`` (MySQL's privilege sets). DESIGN.md says how they replicate; marmotdb/users.py
puts config accounts and stored ones together for login and checks."""
