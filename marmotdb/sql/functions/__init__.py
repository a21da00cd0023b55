"""MySQL functions as SQLite user functions, by family (strings, regex, numbers, bits, decimal,
dates, json, fulltext, aggregates, store, information, internal) over context.py; registry.py
composes the families' tables and registers them on a connection as ``MYSQL_<NAME>``."""
