"""System and user variables: the global and session values (scopes.py), the catalogue of MySQL
8.0 variables (specs.py), validating and printing values (values.py) and what a SET does to
each one (effects.py)."""
