"""EXPLAIN [ANALYZE] [FORMAT=TRADITIONAL|JSON|TREE]: the request (statement.py), SQLite's query
plan read as MySQL's query blocks (plan.py), and MySQL's three formats (render.py)."""
