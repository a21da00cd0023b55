"""Accounts created by SQL, logged in with by a real client (PyMySQL) against a real server."""

from __future__ import annotations

import pymysql
import pytest

pytestmark = pytest.mark.integration


def code(cur, sql):
    with pytest.raises(pymysql.err.MySQLError) as info:
        cur.execute(sql)
    return info.value.args[0]


def login(server, user, password, **kwargs):
    return server.connect(user=user, password=password, autocommit=True, **kwargs)


@pytest.fixture(scope="module")
def admin(marmot_server):
    conn = marmot_server.connect(autocommit=True)
    cur = conn.cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS acc_shop")
    cur.execute("CREATE TABLE IF NOT EXISTS acc_shop.item (id INT PRIMARY KEY, name TEXT)")
    cur.execute("CREATE TABLE IF NOT EXISTS acc_shop.secret (id INT PRIMARY KEY)")
    yield cur
    conn.close()


def test_created_user_logs_in_and_is_held_to_its_grants(marmot_server, admin):
    admin.execute("CREATE USER 'alice'@'%' IDENTIFIED BY 'wonder'")
    admin.execute("GRANT SELECT, INSERT ON acc_shop.item TO 'alice'@'%'")
    alice = login(marmot_server, "alice", "wonder", database="acc_shop")
    cur = alice.cursor()
    cur.execute("INSERT INTO item VALUES (1, 'a')")
    cur.execute("SELECT name FROM item")
    assert cur.fetchall() == (("a",),)
    assert code(cur, "SELECT * FROM secret") == 1142
    assert code(cur, "DELETE FROM item") == 1142
    assert code(cur, "CREATE DATABASE acc_other") == 1044
    assert code(cur, "CREATE USER 'x'@'%'") == 1227
    cur.execute("SHOW GRANTS")
    assert cur.fetchall() == (("GRANT USAGE ON *.* TO `alice`@`%`",),
                              ("GRANT SELECT, INSERT ON `acc_shop`.`item` TO `alice`@`%`",))
    with pytest.raises(pymysql.err.OperationalError) as denied:
        login(marmot_server, "alice", "wrong")
    assert denied.value.args[0] == 1045
    # REVOKE takes effect for the next statement of an open session
    admin.execute("REVOKE INSERT ON acc_shop.item FROM 'alice'@'%'")
    assert code(cur, "INSERT INTO item VALUES (2, 'b')") == 1142
    # DROP USER closes nothing but refuses new logins
    admin.execute("DROP USER 'alice'@'%'")
    cur.execute("SELECT COUNT(*) FROM item")
    assert cur.fetchone() == (1,)
    with pytest.raises(pymysql.err.OperationalError) as gone:
        login(marmot_server, "alice", "wonder")
    assert gone.value.args[0] == 1045
    alice.close()


def test_password_changes_and_plugins(marmot_server, admin):
    admin.execute("CREATE USER IF NOT EXISTS 'carol'@'%' IDENTIFIED WITH "
                  "mysql_native_password BY 'one'")
    admin.execute("CREATE USER IF NOT EXISTS 'carol'@'%' IDENTIFIED BY 'ignored'")
    admin.execute("SHOW WARNINGS")
    assert admin.fetchall()[0][1] == 3163
    carol = login(marmot_server, "carol", "one")
    cur = carol.cursor()
    cur.execute("SET PASSWORD = 'two'")  # one's own password needs no privilege
    carol.close()
    login(marmot_server, "carol", "two").close()
    admin.execute("ALTER USER 'carol'@'%' IDENTIFIED BY 'three'")
    login(marmot_server, "carol", "three").close()
    admin.execute("RENAME USER 'carol'@'%' TO 'dave'@'%'")
    login(marmot_server, "dave", "three").close()
    assert code(admin, "CREATE USER 'dave'@'%'") == 1396
    assert code(admin, "DROP USER 'carol'@'%'") == 1396
    assert code(admin, "GRANT SELECT ON *.* TO 'nobody'@'%'") == 1410
    assert code(admin, "CREATE ROLE r1") == 1235
    admin.execute("DROP USER 'dave'@'%'")


def test_host_part_is_matched(marmot_server, admin):
    admin.execute("CREATE USER 'erin'@'10.9.9.9' IDENTIFIED BY 'pw'")
    with pytest.raises(pymysql.err.OperationalError) as denied:
        login(marmot_server, "erin", "pw")  # the test connects from 127.0.0.1
    assert denied.value.args[0] == 1045
    admin.execute("CREATE USER 'erin'@'127.0.0.%' IDENTIFIED BY 'pw2'")
    login(marmot_server, "erin", "pw2").close()
    admin.execute("DROP USER 'erin'@'10.9.9.9', 'erin'@'127.0.0.%'")


def test_grant_option_and_information_schema(marmot_server, admin):
    admin.execute("CREATE USER 'frank'@'%' IDENTIFIED BY 'pw'")
    admin.execute("GRANT ALL ON acc_shop.* TO 'frank'@'%' WITH GRANT OPTION")
    admin.execute("CREATE USER 'gina'@'%' IDENTIFIED BY 'pw'")
    frank = login(marmot_server, "frank", "pw")
    cur = frank.cursor()
    cur.execute("GRANT SELECT ON acc_shop.* TO 'gina'@'%'")
    assert code(cur, "GRANT SELECT ON *.* TO 'gina'@'%'") == 1045
    cur.execute("SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES "
                "WHERE GRANTEE = \"'frank'@'%'\" AND PRIVILEGE_TYPE = 'SELECT'")
    assert cur.fetchall() == (("SELECT",),)
    frank.close()
    gina = login(marmot_server, "gina", "pw", database="acc_shop")
    gina.cursor().execute("SELECT * FROM item")
    gina.close()
    admin.execute("DROP USER 'frank'@'%', 'gina'@'%'")


# --- the same account statements on MariaDB (MySQL 8 and MariaDB agree on these codes) ------

SETUP = ["CREATE DATABASE IF NOT EXISTS acc_diff",
         "CREATE TABLE IF NOT EXISTS acc_diff.t (id INT PRIMARY KEY)",
         "DROP USER IF EXISTS 'diff_u'@'%'",
         "CREATE USER 'diff_u'@'%' IDENTIFIED BY 'pw'",
         "GRANT SELECT ON acc_diff.* TO 'diff_u'@'%'"]
# (statement, code) as root
ADMIN_CASES = [("CREATE USER 'diff_u'@'%' IDENTIFIED BY 'x'", 1396),
               ("DROP USER 'diff_missing'@'%'", 1396),
               ("RENAME USER 'diff_missing'@'%' TO 'diff_x'@'%'", 1396),
               ("ALTER USER 'diff_missing'@'%' IDENTIFIED BY 'x'", 1396),
               ("REVOKE INSERT ON acc_diff.t FROM 'diff_u'@'%'", 1147),
               ("REVOKE INSERT ON acc_diff.* FROM 'diff_u'@'%'", 0),
               ("REVOKE INSERT ON acc_diff_none.* FROM 'diff_u'@'%'", 1141),
               ("SHOW GRANTS FOR 'diff_missing'@'%'", 1141),
               ("GRANT SUPER ON acc_diff.* TO 'diff_u'@'%'", 1221),
               ("GRANT CREATE TEMPORARY TABLES ON acc_diff.t TO 'diff_u'@'%'", 1144),
               ("GRANT SELECT ON acc_diff.t TO 'diff_u'@'%'", 0),
               ("REVOKE SELECT ON acc_diff.t FROM 'diff_u'@'%'", 0)]
# (statement, code) as diff_u: SELECT on acc_diff.* only
USER_CASES = [("SELECT COUNT(*) FROM acc_diff.t", 0),
              ("INSERT INTO acc_diff.t VALUES (1)", 1142),
              ("DELETE FROM acc_diff.t", 1142),
              ("UPDATE acc_diff.t SET id = 2", 1142),
              ("DROP TABLE acc_diff.t", 1142),
              ("CREATE TABLE acc_diff.u (id INT)", 1142),
              ("CREATE DATABASE acc_diff_other", 1044),
              ("CREATE USER 'diff_y'@'%'", 1227),
              ("DROP USER 'diff_u'@'%'", 1227),
              ("GRANT SELECT ON acc_diff.* TO 'diff_u'@'%'", 1044)]
# Not here: SET PASSWORD = 'pw' (MySQL 8 takes the password, MariaDB wants a hash: 1372).


def outcome(cur, sql):
    try:
        cur.execute(sql)
        cur.fetchall()
    except pymysql.err.MySQLError as exc:
        return exc.args[0]
    return 0


def setup(conn):
    with conn.cursor() as cur:
        for statement in SETUP:
            cur.execute(statement)


@pytest.fixture(scope="module")
def targets(marmot_server, differential_mariadb):
    root_m = marmot_server.connect(autocommit=True)
    root_d = differential_mariadb.connect(autocommit=True)
    setup(root_m)
    setup(root_d)
    user_m = login(marmot_server, "diff_u", "pw")
    user_d = pymysql.connect(host=differential_mariadb.host, port=differential_mariadb.port,
                             user="diff_u", password="pw", autocommit=True)
    yield {"marmotdb": (root_m, user_m), "mariadb": (root_d, user_d)}
    for conn in (user_m, user_d):
        conn.close()
    for conn in (root_m, root_d):
        with conn.cursor() as cur:
            cur.execute("DROP USER IF EXISTS 'diff_u'@'%'")
            cur.execute("DROP DATABASE IF EXISTS acc_diff")
        conn.close()


@pytest.mark.parametrize("sql, code", ADMIN_CASES, ids=[c[0] for c in ADMIN_CASES])
def test_account_statement_codes_match_mariadb(targets, sql, code):
    got = {name: outcome(pair[0].cursor(), sql) for name, pair in targets.items()}
    assert got == {"marmotdb": code, "mariadb": code}


@pytest.mark.parametrize("sql, code", USER_CASES, ids=[c[0] for c in USER_CASES])
def test_privilege_check_codes_match_mariadb(targets, sql, code):
    got = {name: outcome(pair[1].cursor(), sql) for name, pair in targets.items()}
    assert got == {"marmotdb": code, "mariadb": code}
