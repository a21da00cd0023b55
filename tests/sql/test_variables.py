"""System and user variables: defaults, scopes, validation, aliases, typed views."""

from __future__ import annotations

import pytest

from marmotdb.errors import MarmotError
from marmotdb.sql.variables.scopes import (
    DEFAULT,
    DEFAULT_SQL_MODE,
    SPECS,
    GlobalVariables,
    SessionVariables,
    normalize_sql_mode,
    normalize_time_zone,
    render_spec,
    spec_for,
)


def session(config: dict[str, object] | None = None) -> SessionVariables:
    return SessionVariables(GlobalVariables(config))


def code_of(call) -> int:
    with pytest.raises(MarmotError) as caught:
        call()
    return caught.value.code


def test_mysql_80_defaults() -> None:
    v = session({"version": "8.0.36-marmotdb-0.1.0"})
    assert v.get("version") == "8.0.36-marmotdb-0.1.0"
    assert v.get("sql_mode") == DEFAULT_SQL_MODE
    assert v.get("autocommit") == 1 and v.autocommit is True
    assert v.get("transaction_isolation") == "REPEATABLE-READ"
    assert v.get("max_allowed_packet") == 67108864
    assert v.get("lock_wait_timeout") == 50
    assert v.get("character_set_server") == "utf8mb4"
    assert v.get("collation_server") == "utf8mb4_0900_ai_ci"
    assert v.get("default_storage_engine") == "InnoDB"
    assert v.get("marmot_write_consistency") == "QUORUM"
    assert v.get("marmot_read_consistency") == "LOCAL"
    assert v.get("performance_schema") == 0
    assert v.get("query_cache_size") == 0


def test_config_overrides_globals_and_is_validated() -> None:
    v = session({"marmot_write_consistency": "all", "lower_case_table_names": 1, "port": 3307})
    assert v.write_consistency == "ALL"
    assert v.get("lower_case_table_names") == 1 and v.get("port") == 3307
    assert code_of(lambda: GlobalVariables({"marmot_write_consistency": "MOST"})) == 1231


def test_unknown_variable_read_is_1193_but_set_is_remembered() -> None:
    v = session()
    assert code_of(lambda: v.get("no_such_thing")) == 1193
    v.set("no_such_thing", "yes")
    assert v.get("no_such_thing") == "yes"
    assert ("no_such_thing", "yes") in v.items()


@pytest.mark.parametrize("value, stored", [("ON", 1), ("off", 0), (1, 1), (0, 0), (True, 1),
                                           ("true", 1), ("FALSE", 0)])
def test_boolean_values(value: object, stored: int) -> None:
    v = session()
    v.set("autocommit", value)
    assert v.get("autocommit") == stored
    assert v.autocommit is bool(stored)


@pytest.mark.parametrize("name, value, code", [
    ("autocommit", 2, 1231), ("autocommit", "maybe", 1231), ("autocommit", 1.5, 1232),
    ("autocommit", None, 1231), ("wait_timeout", "100", 1232), ("sql_mode", "NOPE", 1231),
    ("sql_mode", "NO_AUTO_CREATE_USER", 1231), ("transaction_isolation", "READ COMMITTED", 1231),
    ("time_zone", "+14:30", 1298), ("time_zone", "Mars/Olympus", 1298),
    ("character_set_client", "klingon", 1115), ("collation_connection", "nope_ci", 1273),
    ("marmot_read_consistency", "ALL", 1231), ("version", "9", 1238),
    ("max_connections", 10, 1229), ("hostname", "x", 1238),
])
def test_validation_errors(name: str, value: object, code: int) -> None:
    v = session()
    assert code_of(lambda: v.set(name, value)) == code


def test_integer_values_clamp_to_range() -> None:
    v = session()
    v.set("wait_timeout", 0)
    assert v.get("wait_timeout") == 1
    v.set("wait_timeout", 40_000_000)
    assert v.get("wait_timeout") == 31536000


def test_sql_mode_canonical_order_and_combinations() -> None:
    assert normalize_sql_mode("no_engine_substitution,strict_trans_tables") == \
        "STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION"
    assert normalize_sql_mode("ANSI") == \
        "REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ONLY_FULL_GROUP_BY,ANSI"
    assert normalize_sql_mode("TRADITIONAL") == (
        "STRICT_TRANS_TABLES,STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
        "ERROR_FOR_DIVISION_BY_ZERO,TRADITIONAL,NO_ENGINE_SUBSTITUTION")
    assert normalize_sql_mode("") == ""
    assert normalize_sql_mode(2097152) == "STRICT_TRANS_TABLES"  # the bitmask form
    v = session()
    v.set("sql_mode", "ANSI_QUOTES,STRICT_ALL_TABLES")
    assert v.sql_modes == {"ANSI_QUOTES", "STRICT_ALL_TABLES"} and v.strict
    v.set("sql_mode", "")
    assert v.sql_modes == frozenset() and not v.strict and v.backslash_escapes
    v.set("sql_mode", "NO_BACKSLASH_ESCAPES")
    assert not v.backslash_escapes


def test_time_zone_forms() -> None:
    assert normalize_time_zone("+0:00") == "+00:00"
    assert normalize_time_zone("-13:59") == "-13:59"
    assert normalize_time_zone("system") == "SYSTEM"
    assert normalize_time_zone("Europe/Paris") == "Europe/Paris"
    v = session({"system_time_zone": "UTC"})
    assert v.time_zone == "UTC"
    v.set("time_zone", "+05:30")
    assert v.time_zone == "+05:30" and v.get("time_zone") == "+05:30"


def test_scopes() -> None:
    v = session()
    assert code_of(lambda: v.get("version", "session")) == 1238  # a GLOBAL variable
    assert code_of(lambda: v.get("warning_count", "global")) == 1238  # a SESSION variable
    assert code_of(lambda: v.set("warning_count", 1, "global")) == 1238  # read only
    assert code_of(lambda: v.set("sql_log_bin", 1, "global")) == 1228
    v.set("wait_timeout", 10, "global")
    assert v.get("wait_timeout", "global") == 10
    assert v.get("wait_timeout") == 28800  # the session copy was taken at connect
    assert SessionVariables(v.global_variables).get("wait_timeout") == 10  # new sessions see it
    v.set("max_connections", 500, "global")
    assert v.get("max_connections") == 500


def test_default_resets_to_the_global_value() -> None:
    g = GlobalVariables({"wait_timeout": 600})
    v = SessionVariables(g)
    v.set("wait_timeout", 5)
    v.set("wait_timeout", DEFAULT)
    assert v.get("wait_timeout") == 600
    v.set("wait_timeout", DEFAULT, "global")
    assert g.get("wait_timeout") == SPECS["wait_timeout"].default


def test_aliases_share_storage() -> None:
    v = session()
    v.set("tx_isolation", "read-committed")
    assert v.get("transaction_isolation") == "READ-COMMITTED"
    assert v.transaction_isolation == "READ-COMMITTED"
    v.set("transaction_read_only", 1)
    assert v.get("tx_read_only") == 1 and v.transaction_read_only
    assert spec_for("TX_ISOLATION") is SPECS["transaction_isolation"]


def test_charset_and_collation_stay_paired() -> None:
    v = session()
    v.set("collation_connection", "latin1_bin")
    assert v.get("character_set_connection") == "latin1"
    v.set("character_set_connection", "utf8")
    assert v.get("character_set_connection") == "utf8mb3"
    assert v.get("collation_connection") == "utf8mb3_general_ci"
    v.set("character_set_results", None)
    assert v.character_set_results is None


def test_set_names() -> None:
    v = session()
    v.set_names("latin1")
    assert [v.get(n) for n in ("character_set_client", "character_set_connection",
                               "character_set_results", "collation_connection")] == \
        ["latin1", "latin1", "latin1", "latin1_swedish_ci"]
    v.set_names("utf8mb4", "utf8mb4_general_ci")
    assert v.get("collation_connection") == "utf8mb4_general_ci"
    assert code_of(lambda: v.set_names("utf8mb4", "latin1_bin")) == 1253
    assert code_of(lambda: v.set_names("nope")) == 1115
    v.set_names(None)
    assert v.get("character_set_client") == "utf8mb4"
    # MySQL's per-language utf8mb4 collations exist (mysqlclient's tests connect with one).
    v.set_names("utf8mb4", "utf8mb4_esperanto_ci")
    assert v.get("collation_connection") == "utf8mb4_esperanto_ci"
    assert code_of(lambda: v.set_names("utf8mb4", "utf8mb4_klingon_ci")) == 1273


def test_user_variables_are_case_insensitive_and_null_when_unset() -> None:
    v = session()
    assert v.user("x") is None
    v.set_user("MyVar", 5)
    assert v.user("myvar") == 5 and v.user_variables == {"myvar": 5}


def test_next_transaction_characteristics_are_one_shot() -> None:
    v = session()
    v.set_next_transaction("SERIALIZABLE", True)
    assert v.take_next_transaction() == ("SERIALIZABLE", True)
    assert v.take_next_transaction() == ("REPEATABLE-READ", False)


def test_show_rendering() -> None:
    assert render_spec(SPECS["autocommit"], 1) == "ON"
    assert render_spec(SPECS["autocommit"], 0) == "OFF"
    assert render_spec(SPECS["long_query_time"], 10.0) == "10.000000"
    assert render_spec(SPECS["secure_file_priv"], None) == ""
    assert render_spec(None, 7) == "7"
    names = [name for name, _ in session().items()]
    assert names == sorted(names) and "version" in names
    assert all(name != "warning_count" for name, _ in session().items("global"))
