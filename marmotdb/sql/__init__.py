"""MySQL statements on SQLite: the executor (session.py), translation (translate.py, rewrites/),
MySQL functions (functions/), the catalog (catalog/, variables/) and the statements the executor
runs itself. sql/DESIGN.md has the map."""
