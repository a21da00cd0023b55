"""Translation as tables of small rewrites over sqlglot's AST (the way sqlglot's dialects read),
run by translate.py: expressions.py (context-free expression rewrites), dml.py (statements
with their tables' definitions), ddl.py (DDL and its ``__marmot_schema`` rows), and one module
per MySQL semantics SQLite lacks (decimal, unsigned, temporal, json, setop, quantified,
foreign_keys). sql/DESIGN.md §1 has the table."""
