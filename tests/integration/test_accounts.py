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
    assert code(cur, "CREATE DATABASE acc_other") == 1227
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
