"""The catalog: SHOW, DESCRIBE, SET, variable SELECTs and INFORMATION_SCHEMA, answered without
translating (dispatch.py is the entry and has the theory of operation). No import circle passes
through this package (tests/sql/test_package_layout.py); its modules reach the session only
through the ``CatalogContext`` protocol (context.py)."""
