"""Table definitions read from MySQL text: the DDL cursor and the one CREATE TABLE reader
(``create_table.py``), used by the translation (rewrites/ddl/) and the catalog alike."""
