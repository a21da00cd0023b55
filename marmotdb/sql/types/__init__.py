"""MySQL column types and their stored values: each type's SQLite declaration, wire metadata and
value coercion (coltypes.py), and BIGINT UNSIGNED from 2^63 (uint64.py)."""
