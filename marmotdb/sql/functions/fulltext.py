"""MySQL full-text search: ``MATCH (col, …) AGAINST (expr [IN BOOLEAN MODE])``.

Theory of operation. A FULLTEXT index lives in marmotdb's catalog only (schema.py stores it
with the table, SHOW CREATE TABLE / SHOW INDEX / INFORMATION_SCHEMA show it, it replicates
with the DDL); it has no SQLite structure. ``MATCH … AGAINST`` is translated to
``MYSQL_MATCH_AGAINST(mode, query, col, …)`` (rewrites/expressions.py), which this module
evaluates row by row with InnoDB's rules:

* words are runs of letters, digits and ``_`` (one apostrophe inside a word belongs to it),
  compared case-insensitively; words shorter than ``innodb_ft_min_token_size`` (3) and InnoDB's
  default stopwords are not indexed, so a query word of that kind is ignored;
* natural language mode: a row matches when it holds any query word (or a double-quoted phrase
  literally); InnoDB has no 50 % threshold;
* boolean mode: ``+`` a word that must be present, ``-`` one that must not, no operator an
  optional word (with no ``+`` in its group, a row needs at least one optional word), ``>`` /
  ``<`` / ``~`` raise, lower or negate a word's contribution, ``word*`` a prefix, ``"…"`` a
  phrase, ``( … )`` a group with the same rules.

The value is a relevance: 0 for a row that does not match, more than 0 for one that does.
InnoDB's relevance weighs each word by its rarity in the whole table (TF-IDF), which one row
cannot see; here it is the number of occurrences of the matched words, weighted by the boolean
operators. Only "0 or not" and "more occurrences rank higher" agree with MySQL; MySQL's own
documentation says the values differ between engines and versions.

Rejected alternative: SQLite FTS5 tables. They would make MATCH an index lookup instead of a
scan, but their shadow tables are ordinary tables that the row-change capture would replicate
next to the rows they index, and each node must rebuild them on DDL; the catalog-only index
gives the same answers and leaves that for when a table is big enough to need it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from marmotdb import errors

MIN_TOKEN_SIZE = 3  # innodb_ft_min_token_size
MAX_TOKEN_SIZE = 84  # innodb_ft_max_token_size
QUERIES_CACHED_MAX = 256  # parsed AGAINST texts kept: the function runs once per row

# INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD
STOPWORDS = frozenset("""a about an are as at be by com de en for from how i in is it la of on or
that the this to was what when where who will with und www""".split())

BOOLEAN_MODE = "BOOLEAN"
NATURAL_MODE = "NATURAL"

_WORD = re.compile(r"\w+(?:'\w+)*")
_BOOLEAN_TOKEN = re.compile(r'\s+|"[^"]*"?|[()]|[-+<>~]|\w+(?:\'\w+)*\*?|.', re.S)


def mode_of(modifier: str | None) -> str:
    """The mode argument of MYSQL_MATCH_AGAINST for sqlglot's modifier text."""
    text = " ".join((modifier or "").upper().split())
    if "EXPANSION" in text:
        raise errors.error(errors.ER_NOT_SUPPORTED_YET, "This version of marmotdb doesn't yet "
                           "support 'MATCH … AGAINST … WITH QUERY EXPANSION'")
    return BOOLEAN_MODE if text == "IN BOOLEAN MODE" else NATURAL_MODE


def words(text: str) -> list[str]:
    """Every word of ``text``, lower-cased, in order (phrases compare them all)."""
    return [w.lower() for w in _WORD.findall(text)]


def _indexed(word: str) -> bool:
    return MIN_TOKEN_SIZE <= len(word) <= MAX_TOKEN_SIZE and word not in STOPWORDS


# ---------------------------------------------------------------- the query


@dataclass(slots=True)
class Term:
    """A word (``prefix``: ``word*``), a phrase (several words) or a group (``terms``)."""

    words: list[str] = field(default_factory=list)
    prefix: bool = False
    terms: list[Term] = field(default_factory=list)
    operator: str = ""  # '' | '+' | '-' | '~' | '<' | '>'
    is_group: bool = False


@functools.lru_cache(maxsize=QUERIES_CACHED_MAX)
def parse_boolean(query: str) -> Term:
    """The query of ``IN BOOLEAN MODE`` as a group of terms (MySQL ignores what it cannot
    read rather than failing, and so does this)."""
    tokens = [t for t in _BOOLEAN_TOKEN.findall(query) if not t.isspace()]
    group, _ = _parse_group(tokens, 0)
    return group


def _parse_group(tokens: list[str], at: int) -> tuple[Term, int]:
    group, operator = Term(is_group=True), ""
    while at < len(tokens):
        token = tokens[at]
        at += 1
        if token == ")":
            break
        if token in "+-~<>":
            operator = token
            continue
        if token == "(":
            term, at = _parse_group(tokens, at)
        elif token.startswith('"'):
            term = Term(words=words(token.strip('"')))
        elif _WORD.match(token):
            term = Term(words=[token.rstrip("*").lower()], prefix=token.endswith("*"))
        else:
            operator = ""
            continue
        term.operator, operator = operator, ""
        if _kept(term):
            group.terms.append(term)
    return group, at


def _kept(term: Term) -> bool:
    """A lone word that is not indexed (short, a stopword) is dropped from the query, as
    InnoDB does; a prefix may be short."""
    if term.is_group:
        return bool(term.terms)
    if not term.words:
        return False
    return len(term.words) > 1 or term.prefix or _indexed(term.words[0])


@functools.lru_cache(maxsize=QUERIES_CACHED_MAX)
def parse_natural(query: str) -> Term:
    """Natural language mode: every indexed word optional; a quoted phrase matched
    literally."""
    group = Term(is_group=True)
    for piece in re.split(r'("[^"]*")', query):
        if piece.startswith('"') and piece.endswith('"') and len(piece) > 1:
            if phrase := words(piece[1:-1]):
                group.terms.append(Term(words=phrase))
            continue
        group.terms += [Term(words=[w]) for w in words(piece) if _indexed(w)]
    return group


# ---------------------------------------------------------------- a row


_WEIGHTS = {"": 1.0, "+": 1.0, ">": 1.5, "<": 0.5, "~": -0.5}


def _occurrences(term: Term, document: list[str]) -> int:
    if len(term.words) == 1:
        word = term.words[0]
        if term.prefix:
            return sum(1 for w in document if w.startswith(word))
        return document.count(word)
    size = len(term.words)
    return sum(1 for i in range(len(document) - size + 1) if document[i:i + size] == term.words)


def _score(group: Term, document: list[str]) -> float:
    """The group's relevance for ``document``, 0.0 when it does not match."""
    total, required_missing, optional_found, optional_any = 0.0, False, False, False
    for term in group.terms:
        found = _score(term, document) if term.is_group else float(_occurrences(term, document))
        if term.operator == "-":
            if found:
                return 0.0
            continue
        if term.operator == "+":
            required_missing = required_missing or not found
        else:
            optional_any = True
            optional_found = optional_found or bool(found)
        total += _WEIGHTS[term.operator] * found
    has_required = any(t.operator == "+" for t in group.terms)
    if required_missing or not (has_required or optional_found):
        return 0.0
    if not (has_required or optional_any):
        return 0.0
    return max(total, 1e-6)  # matched: positive even when '~' or '<' lowered it


def match_against(mode: str, query: object, *columns: object) -> float:
    """MYSQL_MATCH_AGAINST(mode, query, col, …): the relevance of the row's columns."""
    if query is None:
        return 0.0
    text = query.decode("utf-8", "replace") if isinstance(query, bytes) else str(query)
    group = parse_boolean(text) if mode == BOOLEAN_MODE else parse_natural(text)
    document: list[str] = []
    for value in columns:
        if value is not None:
            document += words(value.decode("utf-8", "replace") if isinstance(value, bytes)
                              else str(value))
    return _score(group, document)
