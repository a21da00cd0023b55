"""System variables (``@@x``, ``@@session.x``, ``@@global.x``, SHOW VARIABLES) and user variables.

Two layers, as in MySQL: ``GlobalVariables`` holds one node's global values (MySQL 8.0 names,
defaults from ``SPECS`` overridden by the config mapping the node passes in) and
``SessionVariables`` holds one connection's values: it starts from the globals and diverges
as the client runs SET. Session state is node-local; nothing here is replicated.

Values are stored in the form ``SELECT @@x`` returns them: booleans as 0/1 ints, numbers as
ints (floats for the few fractional ones), everything else as str, None for NULL. SHOW
VARIABLES renders booleans as ON/OFF.

Validation follows MySQL where applications rely on it (autocommit and other booleans,
sql_mode, transaction_isolation, time_zone, character sets and collations, the marmot
consistency levels, integer ranges) and raises 1231 (wrong value), 1232 (wrong type), 1238
(read only), 1228/1229 (wrong scope), 1193 (unknown variable on read), 1298 (time zone).
Deliberate differences from MySQL, because client tools need them:
* SET of an unknown variable is accepted and remembered (Django, mysqldump and MariaDB clients
  set variables MySQL 8.0 lacks); reading a never-set unknown variable is still 1193.
* ``tx_isolation`` / ``tx_read_only`` (removed in 8.0) remain aliases, since MariaDB-aware
  clients still read them.
* ``lock_wait_timeout`` defaults to 50 s like ``innodb_lock_wait_timeout`` (MySQL's 1 year
  applies to metadata locks, which would make a stuck DDL lock wait forever here).
* ``query_cache_size`` / ``query_cache_type`` (removed in 8.0) read as 0 / OFF, since
  Connector/J asks for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from marmotdb import errors
from marmotdb.errors import MarmotError
from marmotdb.sql.variables import effects
from marmotdb.sql.catalog.charsets import charset_named, collation_named
from marmotdb.sql.variables.specs import (
    ALIASES,
    DEFAULT,
    DEFAULT_SQL_MODE,
    DYNAMIC,
    MARMOT_VERSION,
    SERVER_VERSION,
    SPECS,
    Scope,
    VariableSpec,
    canonical_name,
    spec_for,
)
from marmotdb.sql.variables.values import (
    coerce,
    normalize_sql_mode,
    normalize_time_zone,
    render,
    render_spec,
)

__all__ = ["ALIASES", "DEFAULT", "DEFAULT_SQL_MODE", "DYNAMIC", "MARMOT_VERSION",
           "SERVER_VERSION", "SPECS", "GlobalVariables", "Scope", "SessionVariables",
           "VariableSpec", "canonical_name", "coerce", "normalize_sql_mode",
           "normalize_time_zone", "read_only_variable", "render", "render_spec", "spec_for",
           "unknown_variable"]

# Setting one of a character set / collation pair also sets the other, as MySQL does.
_CHARSET_PAIRS = {
    "character_set_connection": "collation_connection",
    "character_set_database": "collation_database",
    "character_set_server": "collation_server",
}
_COLLATION_PAIRS = {collation: charset for charset, collation in _CHARSET_PAIRS.items()}


# ---------------------------------------------------------------------------------- globals
class GlobalVariables:
    """One node's @@global values: MySQL defaults overridden by the node's config mapping.

    ``config`` keys are variable names (e.g. ``version``, ``hostname``, ``port``,
    ``marmot_write_consistency``, ``lower_case_table_names``, ``have_ssl``); values are
    validated like SET GLOBAL would, but read-only variables may be given. Unknown keys are
    kept as extra variables.
    """

    def __init__(self, config: Mapping[str, object] | None = None) -> None:
        self._values: dict[str, object] = {name: spec.default for name, spec in SPECS.items()}
        self._extra: dict[str, object] = {}
        self._session_start: dict[str, object] | None = None  # session_values(), until a SET
        self.generation = 0  # moves on every SET GLOBAL: what was derived from the values is stale
        for name, value in (config or {}).items():
            spec = spec_for(name)
            if spec is None:
                self._extra[name.lower()] = value
            else:
                self._values[spec.name] = coerce(spec, value)
                _apply_pairs(self._values, spec.name)

    def get(self, name: str) -> object:
        key = canonical_name(name)
        if key in self._values:
            return self._values[key]
        if key in self._extra:
            return self._extra[key]
        raise unknown_variable(name)

    def set(self, name: str, value: object) -> None:
        """SET GLOBAL name = value (value may be DEFAULT)."""
        key = canonical_name(name)
        spec = SPECS.get(key)
        if spec is None:
            self._extra[key] = None if value is DEFAULT else value
            self.generation += 1
            return
        if spec.read_only:
            raise read_only_variable(spec.name)
        if spec.scope is Scope.SESSION:
            raise errors.error(errors.ER_LOCAL_VARIABLE, f"Variable '{spec.name}' is a SESSION "
                               "variable and can't be used with SET GLOBAL")
        stored = spec.default if value is DEFAULT else coerce(spec, value)
        effects.check_value(spec, stored, self._values[key])
        effects.check_tls(spec, stored, self._values["have_ssl"] == "YES")
        self._values[key] = stored
        _apply_pairs(self._values, key)
        self._session_start = None
        self.generation += 1

    def session_values(self) -> dict[str, object]:
        """A copy of the values a new session starts from (session-scoped variables); kept
        between SET GLOBALs, so a connect copies one dict instead of picking ~110 names."""
        start = self._session_start
        if start is None:
            start = self._session_start = {name: self._values[name] for name in _SESSION_NAMES}
        return start.copy()

    def items(self) -> Iterable[tuple[str, object]]:
        yield from self._values.items()
        yield from self._extra.items()


_SESSION_NAMES = tuple(name for name, spec in SPECS.items() if spec.scope is not Scope.GLOBAL)


def _apply_pairs(values: dict[str, object], name: str) -> None:
    """Keep character_set_X and collation_X consistent after one of them changed."""
    if name in _CHARSET_PAIRS and values[name] is not None:
        charset = charset_named(str(values[name]))
        if charset is not None:
            values[_CHARSET_PAIRS[name]] = charset.default_collation
    elif name in _COLLATION_PAIRS:
        collation = collation_named(str(values[name]))
        if collation is not None:
            values[_COLLATION_PAIRS[name]] = collation.charset


def unknown_variable(name: str) -> MarmotError:
    return errors.error(errors.ER_UNKNOWN_SYSTEM_VARIABLE, f"Unknown system variable '{name}'")


def read_only_variable(name: str) -> MarmotError:
    return errors.error(errors.ER_INCORRECT_GLOBAL_LOCAL_VAR,
                        f"Variable '{name}' is a read only variable")


# ---------------------------------------------------------------------------------- session
class SessionVariables:
    """One connection's system variables (over a node's GlobalVariables) and user variables.

    ``get``/``set`` take the variable name and the scope as written: None for ``@@x`` / plain
    ``SET x``, "session" (also "local") or "global". Typed properties give the executor the
    values it acts on (autocommit, isolation, sql_mode, time_zone, consistency levels, ...).

    ``SET TRANSACTION ...`` without SESSION/GLOBAL only affects the next transaction: it is
    kept in ``next_isolation`` / ``next_read_only`` until the executor calls
    ``take_next_transaction()`` when that transaction starts.
    """

    __slots__ = (
        "_extra",
        "_modes_cache",
        "_user",
        "_values",
        "global_variables",
        "next_isolation",
        "next_read_only",
    )

    def __init__(self, global_variables: GlobalVariables | None = None) -> None:
        self.global_variables = global_variables or GlobalVariables()
        self._values = self.global_variables.session_values()
        self._extra: dict[str, object] = {}
        self._user: dict[str, object] = {}
        self.next_isolation: str | None = None
        self.next_read_only: bool | None = None
        self._modes_cache: tuple[str, frozenset[str]] = ("", frozenset())

    # ------------------------------------------------------------------ system variables
    def get(self, name: str, scope: str | None = None) -> object:
        """The value of ``@@[scope.]name``; 1193 for an unknown, never-set variable."""
        key = canonical_name(name)
        spec = SPECS.get(key)
        if spec is None:
            return self._get_extra(name, key, scope)
        if scope == "global":
            if spec.scope is Scope.SESSION:
                raise errors.error(errors.ER_INCORRECT_GLOBAL_LOCAL_VAR,
                                   f"Variable '{spec.name}' is a SESSION variable")
            return self.global_variables.get(key)
        if spec.scope is Scope.GLOBAL:
            if scope is not None:
                raise errors.error(errors.ER_INCORRECT_GLOBAL_LOCAL_VAR,
                                   f"Variable '{spec.name}' is a GLOBAL variable")
            return self.global_variables.get(key)
        return self._values[key]

    def _get_extra(self, name: str, key: str, scope: str | None) -> object:
        if scope != "global" and key in self._extra:
            return self._extra[key]
        return self.global_variables.get(name)  # raises 1193 when never set

    def set(self, name: str, value: object, scope: str | None = None) -> None:
        """SET [scope] name = value; ``value`` may be ``DEFAULT``."""
        if scope == "global":
            self.global_variables.set(name, value)
            return
        key = canonical_name(name)
        spec = SPECS.get(key)
        if spec is None:
            self._extra[key] = None if value is DEFAULT else value
            return
        if spec.read_only:
            raise read_only_variable(spec.name)
        if spec.scope is Scope.GLOBAL:
            raise errors.error(errors.ER_GLOBAL_VARIABLE, f"Variable '{spec.name}' is a GLOBAL "
                               "variable and should be set with SET GLOBAL")
        effects.check_session_scope(spec)
        if value is DEFAULT:
            stored = self.global_variables.get(key) if spec.scope is Scope.BOTH else spec.default
        else:
            stored = coerce(spec, value)
        effects.check_value(spec, stored, self.global_variables.get(key))
        self._values[key] = stored
        _apply_pairs(self._values, key)

    def set_names(self, charset: str | None, collation: str | None = None) -> None:
        """SET NAMES charset [COLLATE collation] (charset None means DEFAULT)."""
        spec = SPECS["character_set_client"]
        name = str(self.global_variables.get("character_set_server")) if charset is None \
            else str(coerce(spec, charset))
        chosen = collation_named(collation) if collation else None
        if collation and chosen is None:
            raise errors.error(errors.ER_UNKNOWN_COLLATION, f"Unknown collation: '{collation}'")
        if chosen is not None and chosen.charset != name:
            raise errors.error(errors.ER_COLLATION_CHARSET_MISMATCH, f"COLLATION '{chosen.name}' "
                               f"is not valid for CHARACTER SET '{name}'")
        for variable in ("character_set_client", "character_set_results",
                         "character_set_connection"):
            self._values[variable] = name
        _apply_pairs(self._values, "character_set_connection")
        if chosen is not None:
            self._values["collation_connection"] = chosen.name

    def use_database_charset(self, charset: str, collation: str) -> None:
        """USE: character_set_database and collation_database become the database's."""
        self._values["character_set_database"] = charset
        self._values["collation_database"] = collation

    def set_character_set(self, charset: str | None) -> None:
        """SET CHARACTER SET charset: client and results; connection follows the database."""
        spec = SPECS["character_set_client"]
        name = str(self.global_variables.get("character_set_server")) if charset is None \
            else str(coerce(spec, charset))
        self._values["character_set_client"] = name
        self._values["character_set_results"] = name
        self._values["character_set_connection"] = self._values["character_set_database"]
        _apply_pairs(self._values, "character_set_connection")

    def items(self, scope: str | None = None) -> list[tuple[str, object]]:
        """(name, value) of every variable visible at ``scope`` (SHOW VARIABLES), sorted."""
        merged: dict[str, object] = {}
        for name, value in self.global_variables.items():
            spec = SPECS.get(name)
            if scope != "global" and spec is not None and spec.scope is not Scope.GLOBAL:
                value = self._values[name]
            elif scope == "global" and spec is not None and spec.scope is Scope.SESSION:
                continue
            merged[name] = value
        if scope != "global":
            merged.update(self._extra)
        return sorted(merged.items())

    # ------------------------------------------------------------------ user variables
    def user(self, name: str) -> object:
        """@name (case-insensitive); None when never set, as in MySQL."""
        return self._user.get(name.lower())

    def set_user(self, name: str, value: object) -> None:
        self._user[name.lower()] = value

    @property
    def user_variables(self) -> dict[str, object]:
        return self._user

    # ------------------------------------------------------------------ transactions
    def set_next_transaction(self, isolation: str | None, read_only: bool | None) -> None:
        if isolation is not None:
            self.next_isolation = str(coerce(SPECS["transaction_isolation"], isolation))
        if read_only is not None:
            self.next_read_only = read_only

    def take_next_transaction(self) -> tuple[str, bool]:
        """(isolation, read_only) for the transaction starting now; clears the one-shot
        SET TRANSACTION characteristics."""
        isolation = self.next_isolation or str(self._values["transaction_isolation"])
        read_only = self.next_read_only if self.next_read_only is not None \
            else bool(self._values["transaction_read_only"])
        self.next_isolation = None
        self.next_read_only = None
        return isolation, read_only

    # ------------------------------------------------------------------ typed views
    @property
    def autocommit(self) -> bool:
        return bool(self._values["autocommit"])

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self._values["autocommit"] = int(bool(value))

    @property
    def transaction_isolation(self) -> str:
        return str(self._values["transaction_isolation"])

    @property
    def transaction_read_only(self) -> bool:
        return bool(self._values["transaction_read_only"])

    @property
    def sql_mode(self) -> str:
        return str(self._values["sql_mode"])

    @property
    def sql_modes(self) -> frozenset[str]:
        """The sql_mode flags as a set (cached per distinct sql_mode string)."""
        text = str(self._values["sql_mode"])
        if self._modes_cache[0] != text:
            self._modes_cache = (text, frozenset(filter(None, text.split(","))))
        return self._modes_cache[1]

    @property
    def backslash_escapes(self) -> bool:
        """Whether a backslash escapes in string literals (sql_mode lacks NO_BACKSLASH_ESCAPES);
        what the lexer's ``backslash_escapes`` argument wants."""
        return "NO_BACKSLASH_ESCAPES" not in self.sql_modes

    @property
    def strict(self) -> bool:
        modes = self.sql_modes
        return "STRICT_TRANS_TABLES" in modes or "STRICT_ALL_TABLES" in modes

    @property
    def time_zone(self) -> str:
        """The session time zone; 'SYSTEM' resolved to @@system_time_zone."""
        zone = str(self._values["time_zone"])
        return str(self.global_variables.get("system_time_zone")) if zone == "SYSTEM" else zone

    @property
    def time_zone_setting(self) -> str:
        """The session time zone as set ('SYSTEM' is the machine's, as the functions read it)."""
        return str(self._values["time_zone"])

    @property
    def write_consistency(self) -> str:
        return str(self._values["marmot_write_consistency"])

    @property
    def read_consistency(self) -> str:
        return str(self._values["marmot_read_consistency"])

    @property
    def foreign_key_checks(self) -> bool:
        return bool(self._values["foreign_key_checks"])

    @property
    def max_execution_time_ms(self) -> int:
        return self._int("max_execution_time")

    @property
    def lock_wait_timeout_s(self) -> int:
        return self._int("lock_wait_timeout")

    @property
    def sql_notes(self) -> bool:
        return bool(self._values["sql_notes"])

    @property
    def timestamp_s(self) -> float:
        """SET timestamp = N: the epoch seconds NOW() returns; 0.0 when not set."""
        return float(self._values["timestamp"])  # type: ignore[arg-type]

    # ------------------------------------------------------------------ for the listener
    def start_interactive(self) -> None:
        """A client that logged in with CLIENT_INTERACTIVE: MySQL starts its wait_timeout
        from @@global.interactive_timeout."""
        self._values["wait_timeout"] = self.global_variables.get("interactive_timeout")

    # wait_timeout: idle time between commands after which the listener closes the
    # connection; net_read_timeout: wait for the rest of a command packet the client started
    # to send; net_write_timeout: wait for the client to take a reply being sent.
    @property
    def wait_timeout_s(self) -> int:
        return self._int("wait_timeout")

    @property
    def net_read_timeout_s(self) -> int:
        return self._int("net_read_timeout")

    @property
    def net_write_timeout_s(self) -> int:
        return self._int("net_write_timeout")

    def _int(self, name: str) -> int:
        return int(self._values[name])  # type: ignore[call-overload]

    @property
    def character_set_results(self) -> str | None:
        value = self._values["character_set_results"]
        return None if value is None else str(value)
