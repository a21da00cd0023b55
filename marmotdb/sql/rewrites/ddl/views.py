"""CREATE [OR REPLACE] VIEW, ALTER VIEW and DROP VIEW: the SELECT translated to SQLite, the
MySQL text and VIEW_DEFINITION kept in the bookkeeping row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from marmotdb import errors
from marmotdb.sql import schema
from marmotdb.sql.definition.columns import name_list
from marmotdb.sql.definition.cursor import DdlParser
from marmotdb.sql.rewrites.ddl.context import DdlContext, DdlResult, check_database
from marmotdb.sql.rewrites.ddl.render import q
from marmotdb.sql.rewrites.ddl.tables import name_list_plain


def drop_view(parser: DdlParser, ctx: DdlContext) -> DdlResult:
    if_exists = parser.accept_seq("IF", "EXISTS")
    names = name_list_plain(parser, ctx)
    parser.accept("RESTRICT", "CASCADE")
    missing = [n for n in names if not ctx.is_view(n)]
    if missing and not if_exists:
        listed = ",".join(f"{ctx.database or 'marmot'}.{n}" for n in missing)
        raise errors.error(errors.ER_BAD_TABLE_ERROR, f"Unknown table '{listed}'")
    statements = []
    for name in names:
        if name not in missing:  # IF EXISTS on a base table of that name is a no-op
            statements += [f"DROP VIEW IF EXISTS {q(name)}",
                           schema.delete_statement("view", name)]
    return DdlResult(statements, tables=tuple(n.lower() for n in names if n not in missing))


@dataclass(frozen=True, slots=True)
class ViewAttributes:
    """``ALGORITHM=…`` and ``SQL SECURITY …`` of a CREATE/ALTER VIEW, kept and shown as
    MySQL does (SQLite runs every view the same way: they change no result here, but a dump
    restored into MySQL must keep them)."""

    algorithm: str = "UNDEFINED"
    security: str = "DEFINER"


def skip_view_attributes(parser: DdlParser) -> ViewAttributes:
    """The attributes before VIEW (also read, and unused, before TRIGGER / PROCEDURE)."""
    algorithm, security = "UNDEFINED", "DEFINER"
    while True:
        if parser.accept("ALGORITHM"):
            algorithm = parser.option_value().upper()
            if algorithm not in ("UNDEFINED", "MERGE", "TEMPTABLE"):
                parser.fail()
        elif parser.accept("DEFINER"):
            parser.accept_op("=")
            _skip_user(parser)
        elif parser.accept_seq("SQL", "SECURITY"):
            security = parser.expect("DEFINER", "INVOKER")
        else:
            return ViewAttributes(algorithm, security)


def _skip_user(parser: DdlParser) -> None:
    if parser.accept("CURRENT_USER"):
        if parser.accept_op("("):
            parser.expect_op(")")
        return
    parser.identifier()
    if parser.accept_op("@"):
        parser.identifier()


def create_view(parser: DdlParser, ctx: DdlContext, replace: bool,
                attributes: ViewAttributes = ViewAttributes()) -> DdlResult:
    parser.expect("VIEW")
    parser.accept_seq("IF", "NOT", "EXISTS")
    db, name = parser.qualified_name()
    check_database(db, ctx)
    columns = name_list(parser) if parser.at_op("(") else []
    parser.expect("AS")
    body = parser.rest()
    check = re.search(r"\s+WITH\s+(?:(CASCADED|LOCAL)\s+)?CHECK\s+OPTION\s*;?\s*$", body,
                      re.IGNORECASE)
    if check:
        body = body[:check.start()]
    if ctx.exists(name) and not replace:
        raise errors.error(errors.ER_TABLE_EXISTS_ERROR, f"Table '{name}' already exists")
    if replace and ctx.exists(name) and not ctx.is_view(name):
        raise errors.error(errors.ER_WRONG_OBJECT, f"'{ctx.database}.{name}' is not VIEW")
    column_sql = f" ({', '.join(q(c) for c in columns)})" if columns else ""
    statements = [f"DROP VIEW IF EXISTS {q(name)}"] if replace else []
    statements.append(f"CREATE VIEW {q(name)}{column_sql} AS {ctx.select(body)}")
    mysql_sql = (f"CREATE ALGORITHM={attributes.algorithm} DEFINER=CURRENT_USER SQL SECURITY "
                 f"{attributes.security} VIEW "
                 f"{schema.quote_ident(name)}"
                 + (f" ({', '.join(schema.quote_ident(c) for c in columns)})" if columns else "")
                 + f" AS {body.strip()}"
                 + (f" WITH {(check.group(1) or 'CASCADED').upper()} CHECK OPTION" if check
                    else ""))
    import json
    meta = json.dumps({"definition": body.strip(), "columns": [{"name": c} for c in columns],
                       "check_option": (check.group(1) or "CASCADED").upper() if check
                       else "NONE", "is_updatable": "NO", "algorithm": attributes.algorithm,
                       "security": attributes.security,
                       **ctx.creation_charsets.to_meta()})
    statements.append(schema.upsert_statement("view", name, mysql_sql, meta))
    return DdlResult(statements, tables=(name.lower(),))
