"""The account statements (CREATE/ALTER/DROP/RENAME USER, SET PASSWORD: statements.py; GRANT,
REVOKE: grants.py) and the privilege each statement needs (privileges.py). The accounts store
itself is ``marmotdb/accounts/``."""
