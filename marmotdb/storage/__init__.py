"""SQLite storage for replication: change capture, write sets, row versions, LWW apply,
commit log, snapshots and checksums. See DESIGN.md in this directory.

Modules (import them directly; this package imports nothing so that ``databases`` stays cheap
to load): ``capture``, ``writeset``, ``schema``, ``versions``, ``apply``, ``apply_plan``,
``commitlog``, ``internal_tables``, ``snapshot``, ``checksum``, ``databases``.
"""
