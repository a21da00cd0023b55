"""The text layer: MySQL's tokens (lexer.py, the one lexer every part uses), the optimizer hints
marmotdb acts on (hints.py) and literal-free statement shapes, the translation cache's key
(shape.py). Nothing here parses SQL into a tree or knows a table."""
