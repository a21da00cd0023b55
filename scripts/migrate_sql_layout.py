"""Rewrite a branch started before the sql/ layout (sql/DESIGN.md) to the new module paths.

For the branches in flight when marmotdb/sql/ became sub-packages (issue 15, "Shape"): after
merging one of them, run ``python scripts/migrate_sql_layout.py`` from the checkout. It rewrites,
in every tracked .py and .md file, the imports and references of the old flat modules
(``from marmotdb.sql import catalog_snapshot``, ``marmotdb.sql.rewrites_ddl``,
``sql/coltypes.py`` …) to their new homes, keeping the local names (``from
marmotdb.sql.catalog import snapshot as catalog_snapshot``), and the names that left
``functions.py`` for a family module. Code already on the new layout is left as it is, so a
second run changes nothing. It prints the uses it cannot rewrite safely (``functions.<name>``
for a name that left the registry): fix those by hand. Delete this script once no branch from
before the layout remains.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

SQL = "marmotdb.sql"

# old flat module -> its new home under marmotdb.sql
MOVES = {
    "lexer": "text.lexer", "hints": "text.hints", "shape": "text.shape",
    "coltypes": "types.coltypes", "uint64": "types.uint64",
    "rewrites": "rewrites.expressions", "rewrites_ddl": "rewrites.ddl",
    "rewrites_dml": "rewrites.dml", "rewrites_decimal": "rewrites.decimal",
    "rewrites_fk": "rewrites.foreign_keys", "rewrites_json": "rewrites.json",
    "rewrites_quantified": "rewrites.quantified", "rewrites_setop": "rewrites.setop",
    "rewrites_temporal": "rewrites.temporal", "rewrites_unsigned": "rewrites.unsigned",
    "ddl_target": "rewrites.ddl_target",
    "functions": "functions.registry", "json_functions": "functions.json",
    "json_table": "functions.json_table", "fulltext": "functions.fulltext",
    "catalog": "catalog.dispatch", "catalog_charsets": "catalog.charsets",
    "catalog_ddl": "catalog.create_table", "catalog_expr": "catalog.expr",
    "catalog_keywords": "catalog.keywords", "catalog_model": "catalog.model",
    "catalog_render": "catalog.render", "catalog_select": "catalog.select",
    "catalog_set": "catalog.set_statement", "catalog_show": "catalog.show",
    "catalog_show_filters": "catalog.show_filters", "catalog_show_server": "catalog.show_server",
    "catalog_snapshot": "catalog.snapshot", "catalog_workspace": "catalog.workspace",
    "information_schema": "catalog.information_schema",
    "variables": "variables.scopes", "catalog_variable_specs": "variables.specs",
    "catalog_variable_effects": "variables.effects", "catalog_variable_values": "variables.values",
    "explain": "explain.statement", "explain_plan": "explain.plan",
    "explain_render": "explain.render",
    "load_data": "load_data.statement", "load_data_file": "load_data.file_format",
    "account_statements": "accounts.statements", "grant_statements": "accounts.grants",
    "statement_privileges": "accounts.privileges",
}
# old modules whose name is now a package's (``marmotdb.sql.catalog`` was a module): outside
# an import statement their name is ambiguous, so text mentioning them is only reported
AMBIGUOUS = set(MOVES) & {new.split(".")[0] for new in MOVES.values()}
# catalog.CatalogContext moved again, to its own module
MOVED_NAMES = {("catalog.dispatch", "CatalogContext"): "catalog.context"}

# names that left functions.py (now functions/registry.py) for a family: family -> "old[=new] …"
_FAMILIES = {
    "bits": "BIT_OPERATORS bit_count bit_operand bitwise_not bitwise_xor mysql_xor",
    "context": "DEFAULT_SQL_MODE FunctionContext Scalar SessionScalar WARNINGS_MAX "
               "_fsp=fsp_argument _nulls=nulls _stamp=stamp_of session_now sql_mode_of to_int "
               "to_number warn zone",
    "dates": "ER_TRUNCATED_WRONG_VALUE _TIME_SCALARS=TIME_SCALARS adddate addtime calc_week "
             "convert_tz date_add date_format date_format_stamp date_only date_sub datediff "
             "daynr extract from_days from_unixtime last_day makedate maketime period_add "
             "period_diff sec_to_time str_to_date subdate subtime time_format time_only "
             "time_to_sec timediff timestamp timestampadd timestampdiff to_days to_seconds "
             "unix_timestamp week week_mode yearweek",
    "decimal": "DECIMAL_SCALE_MAX DIGITS_PER_WORD DIV_PRECISION_INCREMENT "
               "_DECIMAL_SCALARS=DECIMAL_SCALARS decimal_divide decimal_format",
    "information": "_CONSTANT_SCALARS=CONSTANT_SCALARS",
    "internal": "compare",
    "numbers": "_exact=exact_decimal ceil cot floor log mod mysql_round sign truncate_number",
    "regex": "like_binary regexp_instr regexp_like regexp_replace regexp_substr sqlite_regexp",
    "store": "ER_INVALID_USE_OF_NULL STORE_ALTER decimal_collation implicit_default "
             "register_schema_functions time_collation",
    "strings": "_bytes=to_bytes ascii_code bin_to_uuid char_length concat_ws conv crc32 elt "
               "field_index find_in_set format_number from_base64 hex_text inet6_aton "
               "inet6_ntoa inet_aton inet_ntoa insert_string instr is_ipv4 is_ipv6 is_uuid left "
               "locate lower md5 mysql_trim octet_length ord_code quote repeat reverse right sha1 "
               "sha2 soundex space strcmp substring substring_any substring_index to_base64 "
               "unhex upper uuid_to_bin",
}
FUNCTION_HOMES: dict[str, tuple[str, str]] = {
    old: (family, new or old)
    for family, names in _FAMILIES.items()
    for old, _, new in (item.partition("=") for item in names.split())
}

_OLD = "|".join(sorted(MOVES, key=len, reverse=True))
_UNAMBIGUOUS = "|".join(sorted(set(MOVES) - AMBIGUOUS, key=len, reverse=True))
_DOTTED = re.compile(rf"\bmarmotdb\.sql\.({_UNAMBIGUOUS})\b(?![\w])")
_AMBIGUOUS_DOTTED = re.compile(rf"\bmarmotdb\.sql\.({'|'.join(sorted(AMBIGUOUS))})\.(\w+)")
_PATH = re.compile(rf"(?<![\w/])((?:marmotdb/)?sql/)({_OLD})\.py\b")
SUBMODULES: dict[str, set[str]] = {}  # package -> its modules, read from the checkout (main)


def _import_line(indent: str, module: str, items: list[str]) -> str:
    line = f"{indent}from {module} import {', '.join(items)}"
    if len(line) <= 100:
        return line
    return (f"{indent}from {module} import (\n"
            + "".join(f"{indent}    {item},\n" for item in items) + f"{indent})")


def _alias(name: str, local: str) -> str:
    return name if name == local else f"{name} as {local}"


def _rewrite_import(node: ast.ImportFrom) -> list[tuple[str, list[str]]] | None:
    """The (module, items) lines replacing one import, or None to keep it."""
    module = node.module or ""
    groups: dict[str, list[str]] = {}
    changed = False
    for alias in node.names:
        local = alias.asname or alias.name
        target, name = module, alias.name
        if module == SQL and alias.name in MOVES:
            package, submodule = MOVES[alias.name].split(".")
            target, name = f"{SQL}.{package}", submodule
        elif module.startswith(SQL + ".") and module[len(SQL) + 1:] in MOVES \
                and alias.name not in SUBMODULES.get(module[len(SQL) + 1:], set()):
            target = f"{SQL}.{MOVES[module[len(SQL) + 1:]]}"
        if target == f"{SQL}.functions.registry" and name in FUNCTION_HOMES:
            family, name = FUNCTION_HOMES[name]
            target = f"{SQL}.functions.{family}"
        moved = MOVED_NAMES.get((target[len(SQL) + 1:], name))
        if moved:
            target = f"{SQL}.{moved}"
        changed |= (target, name) != (module, alias.name)
        groups.setdefault(target, []).append(_alias(name, local))
    return list(groups.items()) if changed else None


def rewrite_python(source: str) -> str:
    lines = source.splitlines(keepends=True)
    edits = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.startswith(SQL):
            new = _rewrite_import(node)
            if new is not None:
                indent = lines[node.lineno - 1][:node.col_offset]
                tail = lines[node.end_lineno - 1][node.end_col_offset:]
                text = "\n".join(_import_line(indent, m, items) for m, items in new) + tail
                edits.append((node.lineno, node.end_lineno, text))
    for start, end, text in sorted(edits, reverse=True):
        lines[start - 1:end] = [text]
    return rewrite_text("".join(lines))


def rewrite_text(text: str) -> str:
    text = _DOTTED.sub(lambda m: f"{SQL}.{MOVES[m.group(1)]}", text)
    return _PATH.sub(lambda m: m.group(1) + MOVES[m.group(2)].replace(".", "/") + ".py", text)


def unsafe_uses(source: str) -> list[str]:
    """``functions.<name>`` where ``functions`` is the registry and the name left it, and
    dotted text naming an old module whose name is now a package's."""
    found = [f"line {source.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
             for m in _AMBIGUOUS_DOTTED.finditer(source)
             if m.group(2) not in SUBMODULES.get(m.group(1), set())]
    aliases = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == f"{SQL}.functions":
            aliases |= {a.asname or a.name for a in node.names if a.name == "registry"}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases and node.attr in FUNCTION_HOMES:
            family, name = FUNCTION_HOMES[node.attr]
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr} -> "
                         f"{SQL}.functions.{family}.{name}")
    return found


def read_submodules(root: Path) -> None:
    for package in AMBIGUOUS:
        SUBMODULES[package] = {p.stem for p in (root / "marmotdb" / "sql" / package).glob("*.py")
                               if p.stem != "__init__"}


def migrate_file(path: Path, name: str) -> list[str]:
    """Rewrite one file in place; what to tell the user about it."""
    source = path.read_text()
    try:
        new = rewrite_python(source) if name.endswith(".py") else rewrite_text(source)
    except SyntaxError as exc:  # a merge conflict left unresolved, say
        return [f"{name}: skipped, not valid Python ({exc.msg}, line {exc.lineno})"]
    said = []
    if new != source:
        path.write_text(new)
        said.append(f"rewrote {name}")
    return said + [f"{name}: {use} (fix by hand)"
                   for use in (unsafe_uses(new) if name.endswith(".py") else [])]


def main(root: Path) -> int:
    read_submodules(root)
    files = subprocess.run(["git", "ls-files", "*.py", "*.md"], cwd=root, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in files:
        if (root / name).resolve() != Path(__file__).resolve():
            for line in migrate_file(root / name, name):
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()))
