"""Every SET either takes effect or is refused: the classification of each variable, the
refusals (1235, 1621, 1238, 3160) and the values the listener reads from ServerState."""

from __future__ import annotations

import pathlib
import re

import pytest

from marmotdb.config import Config
from marmotdb.errors import MarmotError
from marmotdb.mysql.connection import ProtocolSettings
from marmotdb.sql.variables import effects
from marmotdb.sql import server_settings, translate
from marmotdb.sql.variables.specs import SPECS
from marmotdb.sql.server_state import ServerState
from marmotdb.sql.variables.scopes import DEFAULT, GlobalVariables, SessionVariables
from marmotdb.users import User, Users

CLASSES = {"EXECUTOR": effects.EXECUTOR, "LISTENER": effects.LISTENER, "FIXED": effects.FIXED,
           "INERT": effects.INERT, "UNENFORCED": effects.UNENFORCED}
SETTABLE = {name for name, spec in SPECS.items() if not spec.read_only}
SOURCE = pathlib.Path(__file__).resolve().parents[2] / "marmotdb"


def code_of(call) -> int:
    with pytest.raises(MarmotError) as info:
        call()
    return info.value.code


def test_every_settable_variable_is_in_exactly_one_class():
    seen: dict[str, list[str]] = {}
    for label, names in CLASSES.items():
        for name in names:
            seen.setdefault(name, []).append(label)
    assert {n: c for n, c in seen.items() if len(c) > 1} == {}
    assert SETTABLE - set(seen) == set(), "classify these in sql/variables/effects.py"
    assert set(seen) - SETTABLE == set(), "not a settable variable (read-only or unknown)"


def test_variables_said_to_take_effect_are_read_by_some_code():
    """A weak but useful guard: the name of every EXECUTOR / LISTENER variable appears in code
    other than the catalogue (quoted, or as the typed view ``<name>_s``)."""
    skip = {"sql/variables/specs.py", "sql/variables/effects.py", "server_settings.py"}
    text = "\n".join(p.read_text() for p in SOURCE.rglob("*.py") if p.name not in skip)
    unread = [name for name in sorted(effects.EXECUTOR | effects.LISTENER)
              if not re.search(rf"[\"']{name}[\"']|\b{name}_s\b|\.{name}\b", text)]
    assert unread == []


@pytest.mark.parametrize("name,value", [("sql_select_limit", 10), ("auto_increment_increment", 2),
                                        ("sql_log_bin", 0), ("binlog_format", "STATEMENT"),
                                        ("sql_safe_updates", 1), ("profiling", 1)])
def test_fixed_variables_refuse_any_other_value_and_keep_theirs(name, value):
    session = SessionVariables(GlobalVariables())
    before = session.get(name)
    assert code_of(lambda: session.set(name, value)) == 1235
    scope = "global" if SPECS[name].scope.value != "session" else None
    assert code_of(lambda: session.set(name, value, scope)) == 1235
    assert session.get(name) == before
    session.set(name, before)  # dumps restore the value they saved: accepted
    session.set(name, DEFAULT)


def test_fixed_global_switches_are_refused():
    globals_ = GlobalVariables()
    for name, value in (("general_log", 1), ("read_only", 1), ("innodb_buffer_pool_size", 1 << 30),
                        ("event_scheduler", "ON"), ("max_connect_errors", 5)):
        assert code_of(lambda: globals_.set(name, value)) == 1235, name
    globals_.set("read_only", 0)


def test_durability_is_what_innodb_flush_log_at_trx_commit_says():
    config = Config()
    assert server_settings.global_defaults(config, "v")["innodb_flush_log_at_trx_commit"] == 2
    config.storage.durability = "fsync"
    values = GlobalVariables(server_settings.global_defaults(config, "v"))
    assert values.get("innodb_flush_log_at_trx_commit") == 1
    assert code_of(lambda: values.set("innodb_flush_log_at_trx_commit", 2)) == 1235


def test_session_value_of_max_allowed_packet_is_read_only_as_in_mysql():
    session = SessionVariables(GlobalVariables())
    for name in ("max_allowed_packet", "net_buffer_length"):
        assert code_of(lambda: session.set(name, 4096)) == 1621
        assert code_of(lambda: session.set(name, 4096, "session")) == 1621
    session.set("max_allowed_packet", 1 << 20, "global")
    assert session.get("max_allowed_packet", "global") == 1 << 20
    assert session.get("max_allowed_packet") == 64 << 20  # this session keeps its value
    assert SessionVariables(session.global_variables).get("max_allowed_packet") == 1 << 20


def test_server_id_is_the_node_id_and_read_only():
    assert code_of(lambda: GlobalVariables().set("server_id", 7)) == 1238


def test_require_secure_transport_needs_tls():
    assert code_of(lambda: GlobalVariables().set("require_secure_transport", 1)) == 3160
    with_tls = GlobalVariables({"have_ssl": "YES"})
    with_tls.set("require_secure_transport", "ON")
    assert with_tls.get("require_secure_transport") == 1
    GlobalVariables().set("require_secure_transport", 0)


def test_inert_and_unenforced_variables_are_accepted():
    session = SessionVariables(GlobalVariables())
    session.set("sort_buffer_size", 1 << 20)
    session.set("group_concat_max_len", 1_000_000)
    session.set("optimizer_switch", "index_merge=off")
    assert session.get("group_concat_max_len") == 1_000_000


# ---------------------------------------------------------------------- what the listener reads
@pytest.fixture
def state(tmp_path):
    users = Users([User("root", "x", {"*": "admin"}), User("app", "x", {"shop": "rw"})])
    server = ServerState(tmp_path, clock=lambda: 1_700_000_000.0, version="8.0.36-test",
                         users=users, global_defaults={"max_connections": 2})
    yield server
    server.close()


def test_protocol_settings_follow_set_global(state):
    base = ProtocolSettings(preauth_packet_bytes_max=1234)
    first = state.protocol_settings(base)
    assert (first.max_allowed_packet_bytes, first.max_prepared_stmt_count,
            first.require_secure_transport, first.preauth_packet_bytes_max) == \
        (64 << 20, 16382, False, 1234)
    state.global_variables.set("max_allowed_packet", 1 << 20)
    state.global_variables.set("max_prepared_stmt_count", 3)
    later = state.protocol_settings(base)
    assert (later.max_allowed_packet_bytes, later.max_prepared_stmt_count) == (1 << 20, 3)
    assert first.max_allowed_packet_bytes == 64 << 20  # connections accepted before keep theirs


def test_max_connections_with_one_slot_kept_for_an_administrator(state):
    root, app = state.users.get("root"), state.users.get("app")
    assert state.admits_connection(2) and not state.admits_connection(3)
    assert state.admits_login(2, app) and not state.admits_login(3, app)
    assert state.admits_login(3, root)
    state.global_variables.set("max_connections", 10)
    assert state.admits_connection(10) and state.admits_login(10, app)


def test_connect_and_idle_timeouts(state):
    state.global_variables.set("connect_timeout", 5)
    assert state.connect_timeout_s == 5.0
    state.global_variables.set("wait_timeout", 60)
    state.global_variables.set("interactive_timeout", 600)
    plain, interactive = (SessionVariables(state.global_variables) for _ in range(2))
    interactive.start_interactive()
    assert (plain.wait_timeout_s, interactive.wait_timeout_s) == (60, 600)
    plain.set("net_read_timeout", 7)
    plain.set("net_write_timeout", 9)
    assert (plain.net_read_timeout_s, plain.net_write_timeout_s) == (7, 9)


def test_config_sets_the_starting_globals_and_the_translation_cache(tmp_path):
    config = Config(data_dir=str(tmp_path))
    config.mysql.idle_timeout_s, config.mysql.max_connections = 120, 50
    config.mysql.handshake_timeout_ms = 2_500
    config.sql.statement_cache_size = 77
    config.cluster.write_consistency = "ALL"
    config.node_id = 4
    before = translate.cache().entries_max
    try:
        state = ServerState(tmp_path, users=Users([]), clock=lambda: 0.0, version="v",
                            **server_settings.state_options(config, "v"))
        values = state.global_variables
        assert (values.get("wait_timeout"), values.get("interactive_timeout"),
                values.get("max_connections"), values.get("connect_timeout"),
                values.get("server_id"), values.get("marmot_node_id"),
                values.get("marmot_write_consistency")) == (120, 120, 50, 3, 4, "4", "ALL")
        assert translate.cache().entries_max == 77
        state.close()
    finally:
        translate.cache().resize(before)
    config.mysql.idle_timeout_s = 0  # never: the longest MySQL allows
    assert server_settings.global_defaults(config, "v")["wait_timeout"] == 31_536_000
