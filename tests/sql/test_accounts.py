"""Account statements and privilege checks on one node's sessions (no sockets): the store
(marmotdb/accounts.py), the statements (sql/accounts/statements.py, sql/accounts/grants.py),
and the checks every statement passes (Session._require)."""

from __future__ import annotations

from typing import Any

import pytest

from marmotdb.accounts.store import ACCOUNTS_DATABASE, host_matches, specificity
from marmotdb.mysql.auth import parse_credential, verify_cleartext
from marmotdb.accounts.privileges import Privileges, expand
from marmotdb.sql.server_state import ServerState
from marmotdb.sql.session import Session
from marmotdb.txn.pending import Pending
from marmotdb.users import User
from tests.sql.sessions import error_code, rows, session


def run(s: Session, sql: str) -> Any:
    result = s.execute(sql)
    return result.result() if isinstance(result, Pending) else result


def as_user(server: ServerState, name: str, host: str = "%") -> Session:
    record = server.users.get(name, host)
    assert record is not None
    return Session(server, record, 900 + len(server.sessions), host=host)


@pytest.fixture
def root(server: ServerState) -> Session:
    s = session(server)
    run(s, "CREATE DATABASE shop")
    run(s, "CREATE TABLE shop.item (id INT PRIMARY KEY, name TEXT)")
    run(s, "CREATE TABLE shop.secret (id INT PRIMARY KEY)")
    return s


def test_created_account_stores_hashes_only(server, root):
    run(root, "CREATE USER 'bob'@'%' IDENTIFIED BY 'pw-in-clear'")
    bob = server.users.get("bob", "10.1.2.3")
    assert bob is not None and bob.stored and "pw-in-clear" not in bob.credential
    credential = parse_credential(bob.credential)
    assert credential is not None and verify_cleartext(credential, b"pw-in-clear")
    assert rows(run(root, "SHOW GRANTS FOR 'bob'@'%'")) == [("GRANT USAGE ON *.* TO `bob`@`%`",)]
    assert ACCOUNTS_DATABASE not in root.databases()
    assert error_code(lambda: root.use(ACCOUNTS_DATABASE)) == 1044
    assert error_code(lambda: run(root, f"DROP DATABASE {ACCOUNTS_DATABASE}")) == 1044


def test_each_statement_kind_needs_its_privilege(server, root):
    run(root, "CREATE USER bob IDENTIFIED BY 'pw'")
    run(root, "GRANT SELECT, INSERT ON shop.item TO bob")
    bob = as_user(server, "bob")
    run(bob, "USE shop")
    run(bob, "INSERT INTO item VALUES (1, 'a')")
    assert rows(run(bob, "SELECT name FROM item")) == [("a",)]
    for sql in ("SELECT * FROM secret", "UPDATE item SET name = 'b'", "DELETE FROM item",
                "REPLACE INTO item VALUES (1, 'c')", "DROP TABLE item",
                "CREATE INDEX k ON item (id)", "ALTER TABLE item ADD COLUMN x INT"):
        assert error_code(lambda sql=sql: run(bob, sql)) == 1142, sql
    assert error_code(lambda: run(bob, "CREATE DATABASE other")) == 1044
    assert error_code(lambda: run(bob, "CREATE USER carl")) == 1227
    assert bob.databases() == ["shop"]


def test_grant_and_revoke_take_effect_for_the_next_statement(server, root):
    run(root, "CREATE USER bob IDENTIFIED BY 'pw'")
    bob = as_user(server, "bob")
    assert error_code(lambda: run(bob, "SELECT * FROM shop.item")) == 1044
    run(root, "GRANT SELECT ON shop.* TO bob")
    assert rows(run(bob, "SELECT COUNT(*) FROM shop.item")) == [(0,)]
    run(root, "REVOKE SELECT ON shop.* FROM bob")
    assert error_code(lambda: run(bob, "SELECT * FROM shop.item")) == 1044
    run(root, "GRANT ALL PRIVILEGES ON *.* TO bob")
    assert rows(run(bob, "SHOW GRANTS")) == [("GRANT ALL PRIVILEGES ON *.* TO `bob`@`%`",)]
    run(root, "REVOKE ALL PRIVILEGES, GRANT OPTION FROM bob")
    assert rows(run(bob, "SHOW GRANTS")) == [("GRANT USAGE ON *.* TO `bob`@`%`",)]


def test_drop_user_keeps_the_session_and_refuses_new_logins(server, root):
    run(root, "CREATE USER bob IDENTIFIED BY 'pw'")
    run(root, "GRANT SELECT ON shop.* TO bob")
    bob = as_user(server, "bob")
    run(root, "DROP USER bob")
    assert rows(run(bob, "SELECT COUNT(*) FROM shop.item")) == [(0,)]
    assert server.users.get("bob") is None and server.users.credential("bob") is None
    assert error_code(lambda: run(root, "DROP USER bob")) == 1396
    run(root, "DROP USER IF EXISTS bob")
    assert root.warnings[0][1] == 3162


def test_grant_option_is_needed_to_grant(server, root):
    run(root, "CREATE USER a IDENTIFIED BY 'x'")
    run(root, "CREATE USER b IDENTIFIED BY 'x'")
    run(root, "GRANT SELECT ON shop.* TO a")
    a = as_user(server, "a")
    assert error_code(lambda: run(a, "GRANT SELECT ON shop.* TO b")) == 1044
    assert error_code(lambda: run(a, "GRANT SELECT ON shop.item TO b")) == 1142
    assert error_code(lambda: run(a, "GRANT SELECT ON *.* TO b")) == 1045
    run(root, "GRANT SELECT ON shop.* TO a WITH GRANT OPTION")
    run(a, "GRANT SELECT ON shop.item TO b")
    assert error_code(lambda: run(a, "GRANT INSERT ON shop.item TO b")) == 1142
    assert rows(run(root, "SHOW GRANTS FOR b"))[1] == \
        ("GRANT SELECT ON `shop`.`item` TO `b`@`%`",)


@pytest.mark.parametrize("sql, code", [
    ("CREATE ROLE r", 1235), ("GRANT r1 TO bob", 1235), ("SET ROLE r", 1235),
    ("CREATE USER z IDENTIFIED BY 'x' WITH MAX_QUERIES_PER_HOUR 5", 1235),
    ("CREATE USER z IDENTIFIED BY 'x' PASSWORD EXPIRE INTERVAL 9 DAY", 1235),
    ("CREATE USER z IDENTIFIED BY 'x' ACCOUNT LOCK", 1235),
    ("CREATE USER z IDENTIFIED BY 'x' REQUIRE SSL", 1235),
    ("GRANT SELECT (id) ON shop.item TO bob", 1235),
    ("CREATE USER z IDENTIFIED WITH authentication_ldap_simple BY 'x'", 1524),
    ("CREATE USER z@'10.0.0.0/255.0.0.0'", 1235),
    ("GRANT FROBNICATE ON *.* TO bob", 1064),
    ("GRANT SELECT ON TO bob", 1064),
    ("GRANT SUPER ON shop.* TO bob", 1221),
    ("GRANT LOCK TABLES ON shop.item TO bob", 1144),
    ("GRANT SELECT ON *.* TO nobody", 1410),
    ("REVOKE SELECT ON *.* FROM nobody", 1141),
    ("SHOW GRANTS FOR nobody@'%'", 1141),
    ("SHOW GRANTS FOR bob USING r1", 1235),
    ("RENAME USER bob TO root", 1396),
    ("ALTER USER nobody IDENTIFIED BY 'x'", 1396),
    ("GRANT SELECT ON item TO bob", 1046),
])
def test_refusals_have_mysqls_codes(server, root, sql, code):
    run(root, "CREATE USER bob IDENTIFIED BY 'pw'")
    assert error_code(lambda: run(root, sql)) == code


def test_password_expire_never_is_accepted(server, root):
    """Passwords never expire here, so EXPIRE NEVER (aiomysql's test setup) is a no-op."""
    run(root, 'CREATE USER nev IDENTIFIED WITH "caching_sha2_password" PASSWORD EXPIRE NEVER')
    assert server.users.get("nev") is not None
    run(root, "CREATE USER nev2 IDENTIFIED BY 'x' PASSWORD EXPIRE NEVER ACCOUNT UNLOCK")
    assert server.users.get("nev2") is not None


def test_config_accounts_seed_and_sql_takes_over(server, root):
    """The fixture's config users: changed by SQL, they become stored rows and stay so."""
    assert server.users.get("reader") is not None and not server.users.get("reader").stored
    run(root, "GRANT INSERT ON shop.* TO reader")
    reader = server.users.get("reader")
    assert reader.stored and reader.has("SELECT", "shop") and reader.has("INSERT", "shop")
    run(root, "DROP USER writer")
    assert server.users.get("writer") is None  # the tombstone hides the config account
    run(root, "DROP USER reader")  # stored by the GRANT above: dropped, it stays dropped
    assert server.users.get("reader") is None
    run(root, "CREATE USER writer IDENTIFIED BY 'new'")
    assert server.users.get("writer").stored


def test_password_changes(server, root):
    run(root, "CREATE USER bob IDENTIFIED WITH mysql_native_password BY 'one'")
    assert parse_credential(server.users.get("bob").credential).plugin == \
        "mysql_native_password"
    bob = as_user(server, "bob")
    run(bob, "SET PASSWORD = 'two'")
    assert verify_cleartext(parse_credential(server.users.get("bob").credential), b"two")
    assert error_code(lambda: run(bob, "SET PASSWORD FOR root = 'x'")) == 1227
    run(root, "ALTER USER bob IDENTIFIED BY 'three'")
    assert verify_cleartext(parse_credential(server.users.get("bob").credential), b"three")
    shown = rows(run(root, "SHOW CREATE USER bob"))[0][0]
    run(root, "DROP USER bob")
    run(root, shown)  # SHOW CREATE USER's statement restores the same account
    assert verify_cleartext(parse_credential(server.users.get("bob").credential), b"three")


def test_information_schema_privilege_tables(server, root):
    run(root, "CREATE USER bob IDENTIFIED BY 'pw'")
    run(root, "GRANT SELECT ON shop.* TO bob WITH GRANT OPTION")
    run(root, "GRANT UPDATE ON shop.item TO bob")
    bob = as_user(server, "bob")
    assert rows(run(bob, "SELECT * FROM information_schema.USER_PRIVILEGES")) == [
        ("'bob'@'%'", "def", "USAGE", "NO")]
    assert rows(run(bob, "SELECT * FROM information_schema.SCHEMA_PRIVILEGES")) == [
        ("'bob'@'%'", "def", "shop", "SELECT", "YES")]
    assert rows(run(bob, "SELECT * FROM information_schema.TABLE_PRIVILEGES")) == [
        ("'bob'@'%'", "def", "shop", "item", "UPDATE", "NO")]
    every = rows(run(root, "SELECT DISTINCT GRANTEE FROM information_schema.USER_PRIVILEGES"))
    assert ("'bob'@'%'",) in every and ("'root'@'%'",) in every


@pytest.mark.parametrize("pattern, client, matches", [
    ("%", "10.0.0.1", True), ("localhost", "127.0.0.1", True), ("localhost", "::1", True),
    ("localhost", "10.0.0.1", False), ("10.0.0.1", "10.0.0.1", True),
    ("10.0.0.1", "10.0.0.2", False), ("10.0.0.%", "10.0.0.77", True),
    ("10.0.0.%", "10.0.1.7", False), ("10.0.0._", "10.0.0.7", True),
    ("10.0.0._", "10.0.0.77", False)])
def test_host_patterns(pattern, client, matches):
    assert host_matches(pattern, client) is matches


def test_the_most_specific_host_wins(server, root):
    run(root, "CREATE USER bob@'%' IDENTIFIED BY 'any'")
    run(root, "CREATE USER bob@'10.0.0.%' IDENTIFIED BY 'net'")
    run(root, "CREATE USER bob@'10.0.0.5' IDENTIFIED BY 'one'")
    assert server.users.get("bob", "10.0.0.5").host == "10.0.0.5"
    assert server.users.get("bob", "10.0.0.6").host == "10.0.0.%"
    assert server.users.get("bob", "192.168.0.1").host == "%"
    assert sorted(["%", "a.%", "a.b"], key=specificity) == ["a.b", "a.%", "%"]


def test_privilege_levels():
    held = Privileges({("*", "*"): expand(["SELECT"], "global"),
                       ("shop", "*"): expand(["INSERT"], "database"),
                       ("shop", "item"): expand(["DELETE"], "table")})
    assert held.has("SELECT", "any", "t") and held.has("INSERT", "shop", "x")
    assert held.has("DELETE", "shop", "item") and not held.has("DELETE", "shop", "other")
    assert not held.has("INSERT", "other") and not held.has("INSERT")
    assert Privileges.from_levels({"*": "admin"}).grant_lines("root", "%") == [
        "GRANT ALL PRIVILEGES ON *.* TO `root`@`%` WITH GRANT OPTION"]
    assert User("x", "c", {"shop": "rw"}).can("shop", "rw")


def test_account_statements_run_as_prepared_statements(server, root):
    plan = root.prepare("CREATE USER 'prep'@'%' IDENTIFIED BY 'pw'")
    result = root.execute_prepared(plan, [])
    if isinstance(result, Pending):
        result.result()
    assert server.users.get("prep") is not None
