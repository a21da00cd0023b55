from tests.sql.conftest import server  # noqa
from tests.sql.sessions import session, rows, error_code
from marmotdb.txn.pending import Pending

def run(s, sql):
    r = s.execute(sql)
    if isinstance(r, Pending):
        return r.result()
    return r

def test_smoke(server):
    root = session(server)
    run(root, "CREATE DATABASE shop")
    run(root, "CREATE TABLE shop.t (id INT PRIMARY KEY, v INT)")
    run(root, "CREATE USER 'bob'@'%' IDENTIFIED BY 'pw'")
    print(server.users.get("bob"))
    print(rows(run(root, "SHOW GRANTS FOR 'bob'@'%'")))
    run(root, "GRANT SELECT ON shop.* TO 'bob'@'%'")
    bob = session(server, "bob")
    print(rows(run(bob, "SELECT * FROM shop.t")))
    print(error_code(lambda: run(bob, "INSERT INTO shop.t VALUES (1, 1)")))
    run(root, "GRANT INSERT ON shop.t TO bob")
    run(bob, "INSERT INTO shop.t VALUES (1, 1)")
    print(server.users.get("bob").grant_lines())
    run(root, "REVOKE SELECT ON shop.* FROM bob")
    print(error_code(lambda: run(bob, "SELECT * FROM shop.t")))
    run(root, "DROP USER bob")
    print(server.users.get("bob"))

def test_is(server):
    root = session(server)
    run(root, "CREATE DATABASE shop")
    run(root, "CREATE USER 'bob'@'%' IDENTIFIED BY 'pw'")
    run(root, "GRANT SELECT ON shop.* TO 'bob'@'%' WITH GRANT OPTION")
    print(rows(run(root, "SELECT * FROM information_schema.SCHEMA_PRIVILEGES")))
    print(rows(run(root, "SELECT * FROM information_schema.USER_PRIVILEGES WHERE GRANTEE LIKE '%bob%'")))
    print(rows(run(root, "SHOW CREATE USER bob")))
    print(rows(run(root, "SHOW GRANTS FOR bob@'%'")))
