"""Stored procedures and functions (MySQL 8.0 semantics, a practical subset executable).

Design
------
*Storage.* A routine is one row of the database's ``__marmot_schema`` table (sql/schema.py),
``kind`` 'procedure' or 'function' (MySQL keeps the two in separate namespaces, as the
primary key (kind, name) does), ``name`` lower-case (routine names are case-insensitive),
``mysql_sql`` the SHOW CREATE text and ``meta`` the ``Routine`` as JSON (definition.py). So a
routine lives and dies with its database file, is written in the same SQLite transaction as
the DDL's write-set entry, and replicates as that DDL does: CREATE/DROP PROCEDURE is a DDL
whose SQLite statements (an ``INSERT OR REPLACE``/``DELETE`` of the row, literals only) every
node replays; a snapshot copies the row with the file. Rejected: a table of its own in
storage/internal_tables.py captured as row images (like AUTO_INCREMENT claims): the row would
replicate too, but a second bookkeeping path, and SHOW/INFORMATION_SCHEMA would have to read
two places for one database's objects.

*DDL* (ddl.py): CREATE is parsed at once (definition.py for the head, program.py for the
body), so bad syntax is 1064 and anything outside the subset 1235 naming it, before the
statement takes the write turn. 1304/1305 (or their Notes with IF [NOT] EXISTS) are decided
against the database's committed rows.

*CALL* (interpreter.py): a generator per CALL yields the body's statements to the session,
which runs them as a client's; results sets are collected and returned as a ``CallResult``
(several result sets, then the final OK, MySQL's CLIENT_MULTI_RESULTS shape).

*Functions in expressions* (inlining.py): a stored function whose body is ``RETURN expr``, or
a BEGIN … END of DECLAREs with DEFAULTs, SETs of locals and a final RETURN, is inlined into
the calling statement before translation: ``f(a, b)`` becomes the expression with its
parameters replaced by ``(a)`` and ``(b)``. SQLite then evaluates it per row, next to columns,
inside any statement, with no re-entrant execution. Rejected: registering stored functions as
SQLite functions per connection: the function's own statements would have to run re-entrantly
on the connection inside SQLite's callback, which cannot wait for a write turn and would see
the statement's half-written state. A function with loops whose body touches no table and no
session variable is computed per call by the interpreter instead, on a scratch connection
(function_calls.py); any other body is stored and shown (dumps restore) and refused with 1235
when called.
"""
