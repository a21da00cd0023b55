"""MySQL's JSON functions as SQLite user functions (registered by registry.py).

Theory of operation
-------------------
JSON values travel through SQLite as text. A JSON column stores MySQL's canonical text
(``coltypes.json_text``: keys ordered by length then bytes, ``", "`` and ``": "``), and every
function here returns that canonical text, so equal documents compare equal as text.

SQLite's json1 differs from MySQL in the ways that matter to a client (it keeps key order and
duplicate keys, prints ``1`` for ``true`` in ``->>``, formats numbers its own way, has no
``$[last]``, ``$**`` or ranges), so these functions parse with Python's ``json`` and walk
MySQL's path language themselves instead of delegating to json1.

An SQL string passed where MySQL expects a JSON *value* (``JSON_OBJECT('k', 'x')``) is a JSON
string, but the result of a JSON function or a JSON column is a document to nest. SQLite
cannot carry that type across a function boundary, so the translator wraps JSON-typed
arguments in ``MYSQL_JSON_ARG`` (``JSON_MARK`` + text) where a function takes a value
(``JSON_VALUE_ARGUMENTS``); the mark never reaches a client.

JSON_TABLE is rewritten by ``json_table.py`` to SQLite's ``json_each`` over the rows
``json_table_rows`` computes here, each row already converted to its columns' types.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from marmotdb import errors
from marmotdb.sql.types import coltypes
from marmotdb.sql.types.coltypes import json_text, parse_json, to_text

Scalar = tuple[str, Callable[..., object], int, bool]  # name, function, nargs (-1 any), det.


JSON_MARK = "\x00json\x00"  # prefixes a JSON argument so the consuming JSON function keeps it
ER_INVALID_JSON_PATH = 3143


def json_arg(value: object) -> object:
    """MYSQL_JSON_ARG: marks a JSON-typed value passed to a JSON function (never leaks: the
    translator only wraps arguments of JSON functions)."""
    if value is None:
        return None
    return JSON_MARK + (to_text(value) or "")


def load_json(value: object, where: str = "json_doc") -> Any:
    text = to_text(value) or ""
    text = text.removeprefix(JSON_MARK)
    try:
        return parse_json(text)
    except ValueError:
        raise errors.error(coltypes.ER_INVALID_JSON_TEXT,
                           f"Invalid JSON text in argument 1 to function {where}.") from None


def _json_value(value: object) -> Any:
    """An SQL value as a JSON value: marked JSON text is parsed, strings stay strings."""
    if isinstance(value, str) and value.startswith(JSON_MARK):
        return parse_json(value[len(JSON_MARK):])
    if isinstance(value, bytes):
        return value
    if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
        return value
    return value


def _parse_path(path: object) -> list[tuple[str, Any]]:
    text = (to_text(path) or "").strip()
    if not text.startswith("$"):
        raise errors.error(ER_INVALID_JSON_PATH, "Invalid JSON path expression. The error is "
                           "around character position 0.")
    steps: list[tuple[str, Any]] = []
    i = 1
    while i < len(text):
        found = _PATH_STEP_RE.match(text, i)
        if not found:
            raise errors.error(ER_INVALID_JSON_PATH, f"Invalid JSON path expression. The error "
                               f"is around character position {i}.")
        steps.append(_path_step(found))
        i = found.end()
    return steps


_POSITION = r"(?:\d+|last(?:\s*-\s*\d+)?)"
_PATH_STEP_RE = re.compile(r'\s*(?:\.\s*(?P<star>\*)|\.\s*"(?P<quoted>(?:[^"\\]|\\.)*)"'
                           r"|\.\s*(?P<key>[A-Za-z_$][\w$]*)|\[\s*(?P<index>\*|"
                           + _POSITION + r"(?:\s+to\s+" + _POSITION + r")?)\s*\]"
                           r"|(?P<deep>\*\*))")


def _position(text: str) -> tuple[str, int]:
    """``3`` -> ("index", 3); ``last - 1`` -> ("last", 1)."""
    text = text.strip()
    if text.startswith("last"):
        back = re.findall(r"\d+", text)
        return ("last", int(back[0]) if back else 0)
    return ("index", int(text))


def _path_step(found: re.Match[str]) -> tuple[str, Any]:
    if found.group("star"):
        return ("keys", None)
    if found.group("deep"):
        return ("deep", None)
    if found.group("quoted") is not None:
        return ("key", json.loads('"' + found.group("quoted") + '"'))
    if found.group("key") is not None:
        return ("key", found.group("key"))
    index = found.group("index")
    if index == "*":
        return ("items", None)
    bounds = re.split(r"\s+to\s+", index, maxsplit=1)
    if len(bounds) == 2:
        return ("range", (_position(bounds[0]), _position(bounds[1])))
    return _position(index)


def _offset(items: list[Any], where: tuple[str, int]) -> int:
    kind, arg = where
    return arg if kind == "index" else len(items) - 1 - arg


def _walk(node: Any, steps: list[tuple[str, Any]]) -> list[Any]:
    if not steps:
        return [node]
    kind, arg = steps[0]
    rest = steps[1:]
    if kind == "key":
        return _walk(node[arg], rest) if isinstance(node, dict) and arg in node else []
    if kind == "keys":
        return [m for v in node.values() for m in _walk(v, rest)] \
            if isinstance(node, dict) else []
    if kind in ("index", "last"):
        items = node if isinstance(node, list) else [node]  # a scalar is an array of one
        position = _offset(items, (kind, arg))
        return _walk(items[position], rest) if 0 <= position < len(items) else []
    if kind == "range":
        items = node if isinstance(node, list) else [node]
        first, last = max(_offset(items, arg[0]), 0), min(_offset(items, arg[1]), len(items) - 1)
        return [m for v in items[first:last + 1] for m in _walk(v, rest)]
    if kind == "items":
        return [m for v in node for m in _walk(v, rest)] if isinstance(node, list) else []
    found = _walk(node, rest)  # "**": this node and every descendant
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) \
        else []
    return found + [m for child in children for m in _walk(child, steps)]


def _wild(steps: list[tuple[str, Any]]) -> bool:
    return any(kind in ("keys", "items", "deep", "range") for kind, _ in steps)


def json_extract(document: object, *paths: object) -> str | None:
    if document is None or not paths or any(p is None for p in paths):
        return None
    node = load_json(document, "json_extract")
    parsed = [_parse_path(p) for p in paths]
    matches = [m for steps in parsed for m in _walk(node, steps)]
    if len(parsed) == 1 and not _wild(parsed[0]):
        return json_text(matches[0]) if matches else None
    return json_text(matches) if matches else None


def json_unquote(value: object) -> str | None:
    if value is None:
        return None
    text = to_text(value) or ""
    text = text.removeprefix(JSON_MARK)
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            return str(json.loads(text))
        except ValueError:
            raise errors.error(coltypes.ER_INVALID_JSON_TEXT, "Invalid JSON text in argument 1 "
                               "to function json_unquote.") from None
    return text


def json_object(*args: object) -> str:
    if len(args) % 2:
        raise errors.error(errors.ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT,
                           "Incorrect parameter count in the call to native function "
                           "'json_object'")
    result: dict[str, Any] = {}
    for key, value in zip(args[::2], args[1::2]):
        if key is None:
            raise errors.error(3158, "JSON documents may not contain NULL member names.")
        result[to_text(key) or ""] = _json_value(value)
    return json_text(result)


def json_array(*args: object) -> str:
    return json_text([_json_value(v) for v in args])


def json_quote(value: object) -> str | None:
    return None if value is None else json.dumps(to_text(value), ensure_ascii=False)


def json_valid(value: object) -> int | None:
    if value is None:
        return None
    try:
        json.loads(to_text(value) or "")
        return 1
    except ValueError:
        return 0


_JSON_TYPES = {dict: "OBJECT", list: "ARRAY", str: "STRING", bool: "BOOLEAN",
               int: "INTEGER", float: "DOUBLE", type(None): "NULL"}


def json_type(value: object) -> str | None:
    if value is None:
        return None
    return _JSON_TYPES.get(type(load_json(value, "json_type")), "OPAQUE")


def json_keys(document: object, path: object = "$") -> str | None:
    if document is None or path is None:
        return None
    found = _walk(load_json(document, "json_keys"), _parse_path(path))
    if not found or not isinstance(found[0], dict):
        return None
    return json_text(sorted(found[0], key=lambda k: (len(k.encode()), k.encode())))


def json_length(document: object, path: object = "$") -> int | None:
    if document is None or path is None:
        return None
    found = _walk(load_json(document, "json_length"), _parse_path(path))
    if not found:
        return None
    node = found[0]
    return len(node) if isinstance(node, (dict, list)) else 1


def json_depth(document: object) -> int | None:
    if document is None:
        return None

    def depth(node: Any) -> int:
        children = node.values() if isinstance(node, dict) else node \
            if isinstance(node, list) else ()
        return 1 + max((depth(c) for c in children), default=0)
    return depth(load_json(document, "json_depth"))


def _contains(target: Any, candidate: Any) -> bool:
    if isinstance(target, dict):
        return isinstance(candidate, dict) and all(
            k in target and _contains(target[k], v) for k, v in candidate.items())
    if isinstance(target, list):
        if isinstance(candidate, list):
            return all(any(_contains(t, c) for t in target) for c in candidate)
        return any(_contains(t, candidate) for t in target)
    return type(target) is type(candidate) and target == candidate or (
        isinstance(target, (int, float)) and isinstance(candidate, (int, float))
        and not isinstance(target, bool) and target == candidate)


def json_contains(document: object, candidate: object, path: object = "$") -> int | None:
    if document is None or candidate is None or path is None:
        return None
    found = _walk(load_json(document, "json_contains"), _parse_path(path))
    if not found:
        return None
    return int(_contains(found[0], load_json(candidate, "json_contains")))


def json_contains_path(document: object, mode: object, *paths: object) -> int | None:
    if document is None or mode is None or any(p is None for p in paths):
        return None
    node = load_json(document, "json_contains_path")
    hits = [bool(_walk(node, _parse_path(p))) for p in paths]
    return int(all(hits) if str(mode).lower() == "all" else any(hits))


def _modify(document: object, pairs: tuple[object, ...], mode: str) -> str | None:
    if document is None:
        return None
    node = load_json(document, f"json_{mode}")
    for path, value in zip(pairs[::2], pairs[1::2]):
        if path is None:
            return None
        node = _modify_one(node, _parse_path(path), _json_value(value), mode)
    return json_text(node)


def _modify_one(node: Any, steps: list[tuple[str, Any]], value: Any, mode: str) -> Any:
    if not steps:
        return value if mode in ("set", "replace") else node
    if _wild(steps):
        raise errors.error(3149, "In this situation, path expressions may not contain the * and "
                           "** tokens or an array range.")
    parents = _walk(node, steps[:-1])
    if not parents:
        return node
    parent, (kind, arg) = parents[0], steps[-1]
    if kind == "key" and isinstance(parent, dict):
        exists = arg in parent
        if (exists and mode in ("set", "replace")) or (not exists and mode in ("set", "insert")):
            parent[arg] = value
    elif kind in ("index", "last"):
        _modify_array(parent, kind, arg, value, mode, node, steps)
    return node


def _modify_array(parent: Any, kind: str, arg: int, value: Any, mode: str, node: Any,
                  steps: list[tuple[str, Any]]) -> None:
    if not isinstance(parent, list):
        return
    position = arg if kind == "index" else len(parent) - 1 - arg
    if 0 <= position < len(parent):
        if mode in ("set", "replace"):
            parent[position] = value
    elif mode in ("set", "insert") and position >= len(parent):
        parent.append(value)


def json_set(document: object, *pairs: object) -> str | None:
    return _modify(document, pairs, "set")


def json_insert(document: object, *pairs: object) -> str | None:
    return _modify(document, pairs, "insert")


def json_replace(document: object, *pairs: object) -> str | None:
    return _modify(document, pairs, "replace")


def json_remove(document: object, *paths: object) -> str | None:
    if document is None or any(p is None for p in paths):
        return None
    node = load_json(document, "json_remove")
    for path in paths:
        steps = _parse_path(path)
        if not steps:
            raise errors.error(3153, "The path expression '$' is not allowed in this context.")
        for parent in _walk(node, steps[:-1]):
            kind, arg = steps[-1]
            if kind == "key" and isinstance(parent, dict):
                parent.pop(arg, None)
            elif kind in ("index", "last") and isinstance(parent, list):
                position = arg if kind == "index" else len(parent) - 1 - arg
                if 0 <= position < len(parent):
                    del parent[position]
    return json_text(node)


def json_array_append(document: object, *pairs: object) -> str | None:
    if document is None:
        return None
    node = load_json(document, "json_array_append")
    for path, value in zip(pairs[::2], pairs[1::2]):
        steps = _parse_path(path)
        for target in _walk(node, steps):
            if isinstance(target, list):
                target.append(_json_value(value))
            elif steps:
                node = _modify_one(node, steps, [target, _json_value(value)], "replace")
            else:
                node = [node, _json_value(value)]
    return json_text(node)


def _merge_preserve(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        merged = dict(a)
        for k, v in b.items():
            merged[k] = _merge_preserve(merged[k], v) if k in merged else v
        return merged
    left_items = a if isinstance(a, list) else [a]
    right_items = b if isinstance(b, list) else [b]
    return left_items + right_items


def _merge_patch(a: Any, b: Any) -> Any:
    if not isinstance(b, dict):
        return b
    merged = dict(a) if isinstance(a, dict) else {}
    for k, v in b.items():
        if v is None:
            merged.pop(k, None)
        else:
            merged[k] = _merge_patch(merged.get(k), v)
    return merged


def json_merge_preserve(*documents: object) -> str | None:
    if any(d is None for d in documents):
        return None
    loaded = [load_json(d, "json_merge_preserve") for d in documents]
    result = loaded[0]
    for doc in loaded[1:]:
        result = _merge_preserve(result, doc)
    return json_text(result)


def json_merge_patch(*documents: object) -> str | None:
    if documents and documents[0] is None and len(documents) == 1:
        return None
    result: Any = None
    for index, doc in enumerate(documents):
        if doc is None:
            result = None
            continue
        loaded = load_json(doc, "json_merge_patch")
        result = loaded if index == 0 else _merge_patch(result, loaded)
    return None if result is None and documents[-1] is None else json_text(result)


def _canonical(node: Any) -> Any:
    """The document with its objects' keys in MySQL's order (length, then bytes), which is
    the order MySQL's functions visit members in."""
    if isinstance(node, dict):
        return {k: _canonical(node[k]) for k in sorted(node, key=lambda k: (len(k.encode()),
                                                                             k.encode()))}
    if isinstance(node, list):
        return [_canonical(v) for v in node]
    return node


def _like_regex(needle: str, escape: str) -> re.Pattern[str]:
    """MySQL's LIKE pattern (``%``, ``_``, an escape character) as a regular expression."""
    parts: list[str] = []
    chars = iter(needle)
    for char in chars:
        if char == escape:
            parts.append(re.escape(next(chars, escape)))
        else:
            parts.append({"%": ".*", "_": "."}.get(char) or re.escape(char))
    return re.compile("".join(parts) + r"\Z", re.DOTALL)


def _member_path(where: str, key: str) -> str:
    return f"{where}.{key}" if re.fullmatch(r"[A-Za-z_$][\w$]*", key) \
        else f"{where}.{json.dumps(key, ensure_ascii=False)}"


def _search_hits(node: Any, where: str, regex: re.Pattern[str], hits: list[str]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _search_hits(v, _member_path(where, k), regex, hits)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _search_hits(v, f"{where}[{i}]", regex, hits)
    elif isinstance(node, str) and regex.match(node):
        hits.append(where)


def json_search(document: object, mode: object, needle: object, escape: object = None,
                *paths: object) -> str | None:
    if document is None or mode is None or needle is None or any(p is None for p in paths):
        return None
    one = str(mode).lower()
    if one not in ("one", "all"):
        raise errors.error(3150, "The oneOrAll argument to json_search may take these values: "
                           "'one' or 'all'.")
    node = _canonical(load_json(document, "json_search"))
    regex = _like_regex(to_text(needle) or "", (to_text(escape) or "\\")[:1] or "\\")
    hits: list[str] = []
    for path in paths or ("$",):
        text = (to_text(path) or "").strip()
        for found in _walk(node, _parse_path(text)):
            _search_hits(found, text if len(paths) else "$", regex, hits)
    if not hits:
        return None
    hits = list(dict.fromkeys(hits))
    if one == "one" or len(hits) == 1:
        return json_text(hits[0])
    return json_text(hits)


def json_pretty(document: object) -> str | None:
    if document is None:
        return None
    return json.dumps(_canonical(load_json(document, "json_pretty")), indent=2,
                      ensure_ascii=False)


def _same(a: Any, b: Any) -> bool:
    """MySQL's JSON equality: numbers by value (1 = 1.0), booleans only equal booleans,
    arrays element-wise, objects member-wise."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def json_member_of(value: object, document: object) -> int | None:
    """``value MEMBER OF(document)``: an SQL value is a JSON scalar; a non-array document is
    an array of one."""
    if value is None or document is None:
        return None
    items = load_json(document, "member of")
    wanted = _json_value(value)
    return int(any(_same(wanted, item) for item in (items if isinstance(items, list)
                                                    else [items])))


def json_overlaps(left: object, right: object) -> int | None:
    if left is None or right is None:
        return None
    a, b = load_json(left, "json_overlaps"), load_json(right, "json_overlaps")
    if isinstance(a, dict) and isinstance(b, dict):
        return int(any(k in b and _same(v, b[k]) for k, v in a.items()))
    left_items = a if isinstance(a, list) else [a]
    right_items = b if isinstance(b, list) else [b]
    if not isinstance(a, list) and not isinstance(b, list):
        return int(_same(a, b))
    return int(any(_same(x, y) for x in left_items for y in right_items))


def json_value_of(document: object, path: object) -> str | None:
    """JSON_VALUE(doc, path) as MySQL returns it by default (VARCHAR, NULL ON EMPTY, NULL ON
    ERROR): the scalar unquoted; an object or array is an error, so NULL."""
    if document is None or path is None:
        return None
    found = _walk(load_json(document, "json_value"), _parse_path(path))
    if len(found) != 1 or isinstance(found[0], (dict, list)) or found[0] is None:
        return None
    item = found[0]
    return item if isinstance(item, str) else json_text(item)


def json_scalar(value: object) -> object:
    """A JSON value compared with an SQL value (``j->'$.name' = 'x'``): MySQL compares the
    JSON string with the string, the JSON number with the number; text of other JSON
    values stays text (an array never equals a string)."""
    if value is None:
        return None
    try:
        item = json.loads(to_text(value) or "")
    except ValueError:
        return value
    if isinstance(item, bool) or item is None or isinstance(item, (dict, list)):
        return to_text(value)
    return item


# MySQL orders JSON values of different types by type (null < numbers < strings < objects <
# arrays < booleans); SQLite orders NULL < numbers < text. Non-numbers become text behind a
# type prefix, so the types come in MySQL's order and each sorts within its own.
_SORT_PREFIX = {str: "\x01", dict: "\x02", list: "\x03", bool: "\x04"}


def json_sort_key(value: object) -> object:
    """MYSQL_JSON_SORT_KEY: what ``ORDER BY json_expr`` sorts by (numbers numerically)."""
    if value is None:
        return None
    text = to_text(value) or ""
    try:
        item = json.loads(text)
    except ValueError:
        return value
    if item is None:
        return None
    if isinstance(item, (int, float)) and not isinstance(item, bool):
        return item
    prefix = _SORT_PREFIX.get(type(item), "\x05")
    return prefix + (item if isinstance(item, str) else text)


def json_cast_operand(value: object) -> object:
    """A JSON value cast to a number or a temporal type (``CAST(j->'$.n' AS DECIMAL(9,2))``):
    MySQL casts a JSON string's contents, true/false as 1/0, a number as written; other
    values (null, arrays, objects) keep their JSON text, which casts as MySQL's does (0)."""
    if value is None:
        return None
    text = to_text(value) or ""
    try:
        item = json.loads(text)
    except ValueError:
        return value
    if isinstance(item, bool):
        return int(item)
    return item if isinstance(item, str) else text


# ---------------------------------------------------------------- JSON_TABLE rows

def json_table_rows(document: object, path: object, spec_hex: object) -> str | None:
    """The rows of ``JSON_TABLE(document, path COLUMNS (…))`` as a JSON array of arrays, each
    cell already its column's SQL value (a JSON column's cell is its JSON text). ``spec_hex``
    is the column list json_table.py wrote: hex of ``[[kind, name, type, path, on_empty,
    on_error], …]``, kind 'ordinality' | 'path' | 'exists', on_* 'NULL' | 'ERROR' |
    'DEFAULT:<json>'."""
    if document is None or path is None:
        return None
    node = load_json(document, "JSON_TABLE")
    spec = json.loads(bytes.fromhex(str(spec_hex)).decode())
    rows = []
    for ordinal, item in enumerate(_walk(node, _parse_path(path)), start=1):
        rows.append([_table_cell(item, ordinal, column) for column in spec])
    return json.dumps(rows, ensure_ascii=False)


def _table_cell(item: Any, ordinal: int, column: list[str]) -> object:
    kind, name, type_text, path, on_empty, on_error = column
    if kind == "ordinality":
        return ordinal
    found = _walk(item, _parse_path(path))
    if kind == "exists":
        return int(bool(found))
    if not found:
        return _fallback(on_empty, name, 3665, f"Missing value for JSON_TABLE column '{name}'")
    value = found[0] if len(found) == 1 else found
    t = coltypes.cached_type(type_text)
    if t.name == "json":
        return json_text(value)
    if isinstance(value, (dict, list)) or len(found) > 1:
        if t.family != "text":
            return _fallback(on_error, name, 3156, f"Invalid JSON value for CAST for column "
                             f"'{name}'")
        value = json_text(value)
    elif isinstance(value, bool):
        value = int(value) if t.family in ("int", "decimal", "float", "bit") else \
            json_text(value)
    try:
        stored = coltypes.coerce_for_store(value, t, name, ordinal, coltypes.StoreContext())
    except errors.MarmotError as exc:
        return _fallback(on_error, name, exc.code, str(exc))
    return stored if not isinstance(stored, Decimal) else str(stored)


def _fallback(clause: str, name: str, code: int, message: str) -> object:
    if clause == "ERROR":
        raise errors.error(code, message)
    if clause.startswith("DEFAULT:"):
        default = json.loads(clause[len("DEFAULT:"):])
        return default if not isinstance(default, (dict, list)) else json_text(default)
    return None


JSON_SCALARS: list[Scalar] = [
    ("JSON_ARG", json_arg, 1, True), ("JSON_EXTRACT", json_extract, -1, True),
    ("JSON_UNQUOTE", json_unquote, 1, True), ("JSON_OBJECT", json_object, -1, True),
    ("JSON_ARRAY", json_array, -1, True), ("JSON_QUOTE", json_quote, 1, True),
    ("JSON_VALID", json_valid, 1, True), ("JSON_TYPE", json_type, 1, True),
    ("JSON_KEYS", json_keys, -1, True), ("JSON_LENGTH", json_length, -1, True),
    ("JSON_DEPTH", json_depth, 1, True), ("JSON_CONTAINS", json_contains, -1, True),
    ("JSON_CONTAINS_PATH", json_contains_path, -1, True), ("JSON_SET", json_set, -1, True),
    ("JSON_INSERT", json_insert, -1, True), ("JSON_REPLACE", json_replace, -1, True),
    ("JSON_REMOVE", json_remove, -1, True), ("JSON_ARRAY_APPEND", json_array_append, -1, True),
    ("JSON_MERGE_PRESERVE", json_merge_preserve, -1, True),
    ("JSON_MERGE", json_merge_preserve, -1, True),
    ("JSON_MERGE_PATCH", json_merge_patch, -1, True), ("JSON_SEARCH", json_search, -1, True),
    ("JSON_PRETTY", json_pretty, 1, True), ("JSON_OVERLAPS", json_overlaps, 2, True),
    ("JSON_MEMBER_OF", json_member_of, 2, True), ("JSON_VALUE_OF", json_value_of, 2, True),
    ("JSON_SCALAR", json_scalar, 1, True), ("JSON_TABLE_ROWS", json_table_rows, 3, True),
    ("JSON_CAST_OPERAND", json_cast_operand, 1, True),
    ("JSON_SORT_KEY", json_sort_key, 1, True),
]
# Helpers only the rewrites emit (MEMBER OF, JSON_VALUE, comparisons, JSON_TABLE).
JSON_INTERNAL_FUNCTIONS = frozenset({"JSON_ARG", "JSON_MEMBER_OF", "JSON_VALUE_OF",
                                     "JSON_SCALAR", "JSON_TABLE_ROWS",
                                     "JSON_CAST_OPERAND", "JSON_SORT_KEY"})
# MySQL JSON functions refused with 1235: their results depend on MySQL's binary storage
# format (sizes) or on JSON Schema validation, which marmotdb does not implement.
UNSUPPORTED_JSON_FUNCTIONS = frozenset({"JSON_SCHEMA_VALID", "JSON_SCHEMA_VALIDATION_REPORT",
                                        "JSON_STORAGE_SIZE", "JSON_STORAGE_FREE"})
JSON_RESULT_FUNCTIONS = frozenset({
    "JSON_EXTRACT", "JSON_OBJECT", "JSON_ARRAY", "JSON_SET", "JSON_INSERT", "JSON_REPLACE",
    "JSON_REMOVE", "JSON_ARRAY_APPEND", "JSON_MERGE_PRESERVE", "JSON_MERGE",
    "JSON_MERGE_PATCH", "JSON_KEYS", "JSON_ARRAYAGG", "JSON_OBJECTAGG"})
# Arguments (0-based; None = all) of JSON functions that take JSON values, not SQL strings.
JSON_VALUE_ARGUMENTS: dict[str, tuple[int, ...] | None] = {
    "JSON_OBJECT": None, "JSON_ARRAY": None, "JSON_SET": None, "JSON_INSERT": None,
    "JSON_REPLACE": None, "JSON_ARRAY_APPEND": None, "JSON_ARRAYAGG": None,
    "JSON_OBJECTAGG": None, "JSON_MEMBER_OF": (0,)}


class _JsonArrayAgg:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def step(self, value: object) -> None:
        self.items.append(_json_value(value))

    def final(self) -> str | None:
        return json_text(self.items) if self.items else None


class _JsonObjectAgg:
    def __init__(self) -> None:
        self.items: dict[str, Any] = {}

    def step(self, key: object, value: object) -> None:
        if key is None:
            raise errors.error(3158, "JSON documents may not contain NULL member names.")
        self.items[to_text(key) or ""] = _json_value(value)

    def final(self) -> str | None:
        return json_text(self.items) if self.items else None


JSON_AGGREGATES: list[tuple[str, Callable[[], Any]]] = [
    ("JSON_ARRAYAGG", _JsonArrayAgg), ("JSON_OBJECTAGG", _JsonObjectAgg)]
