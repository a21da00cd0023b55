"""The catalog over schemas built by the real translator (MySQL DDL -> SQLite + stored DDL),
including what ALTER, RENAME and DROP leave behind."""

from __future__ import annotations

import pytest

try:
    from tests.sql.test_catalog_context import CatalogTestContext
except ImportError:  # tests/sql is not a package: pytest puts this directory on sys.path
    from test_catalog_context import CatalogTestContext  # type: ignore[no-redef]

AUTHORS = """CREATE TABLE authors (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  email VARCHAR(190) NOT NULL,
  name VARCHAR(100) DEFAULT 'anon' COMMENT 'shown',
  born DATE NULL,
  score DECIMAL(6,2) NOT NULL DEFAULT 0,
  kind ENUM('staff','guest') NOT NULL DEFAULT 'guest',
  updated TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  UNIQUE KEY uq_email (email),
  KEY by_name (name(20))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='writers'"""
POSTS = """CREATE TABLE posts (
  id BIGINT NOT NULL AUTO_INCREMENT,
  author_id INT UNSIGNED NOT NULL,
  title VARCHAR(200) NOT NULL,
  body MEDIUMTEXT,
  PRIMARY KEY (id),
  CONSTRAINT fk_author FOREIGN KEY (author_id) REFERENCES authors (id) ON DELETE CASCADE
)"""


@pytest.fixture
def ctx() -> CatalogTestContext:
    ctx = CatalogTestContext()
    ctx.create_database("app")
    ctx.current_database = "app"
    for sql in (AUTHORS, POSTS, "CREATE INDEX by_title ON posts (title)",
                "INSERT INTO authors (email, name) VALUES ('a@x.io', 'Ann'), ('b@x.io', 'Bob')"):
        ctx.mysql("app", sql)
    return ctx


def test_show_create_table_matches_what_the_translator_stored(ctx: CatalogTestContext) -> None:
    text = ctx.rows("SHOW CREATE TABLE posts")[0][1]
    assert text == """CREATE TABLE `posts` (
  `id` bigint NOT NULL AUTO_INCREMENT,
  `author_id` int unsigned NOT NULL,
  `title` varchar(200) NOT NULL,
  `body` mediumtext,
  PRIMARY KEY (`id`),
  KEY `fk_author` (`author_id`),
  KEY `by_title` (`title`),
  CONSTRAINT `fk_author` FOREIGN KEY (`author_id`) REFERENCES `authors` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci"""
    authors = ctx.rows("SHOW CREATE TABLE authors")[0][1]
    assert "  KEY `by_name` (`name`(20))\n" in authors
    assert authors.endswith(") ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 "
                            "COLLATE=utf8mb4_0900_ai_ci COMMENT='writers'")


def test_index_names_are_mysqls(ctx: CatalogTestContext) -> None:
    assert [(r[2], r[4], r[7]) for r in ctx.rows("SHOW INDEX FROM authors")] == [
        ("PRIMARY", "id", None), ("uq_email", "email", None), ("by_name", "name", 20)]
    assert [r[2] for r in ctx.rows("SHOW INDEX FROM posts")] == ["PRIMARY", "fk_author",
                                                                 "by_title"]


def test_columns(ctx: CatalogTestContext) -> None:
    assert ctx.rows("SHOW COLUMNS FROM authors") == [
        ("id", "int unsigned", "NO", "PRI", None, "auto_increment"),
        ("email", "varchar(190)", "NO", "UNI", None, ""),
        ("name", "varchar(100)", "YES", "MUL", "anon", ""),
        ("born", "date", "YES", "", None, ""),
        ("score", "decimal(6,2)", "NO", "", "0.00", ""),
        ("kind", "enum('staff','guest')", "NO", "", "guest", ""),
        ("updated", "timestamp(3)", "NO", "", "CURRENT_TIMESTAMP(3)",
         "DEFAULT_GENERATED on update CURRENT_TIMESTAMP(3)"),
    ]
    assert ctx.rows("SELECT column_name, column_type, datetime_precision FROM "
                    "information_schema.columns WHERE table_name = 'authors' AND "
                    "data_type IN ('timestamp', 'date') ORDER BY ordinal_position") == [
        ("born", "date", None), ("updated", "timestamp(3)", 3)]


def test_alter_table_is_reflected(ctx: CatalogTestContext) -> None:
    ctx.rows("SHOW CREATE TABLE posts")  # cache a snapshot first
    ctx.mysql("app", "ALTER TABLE posts ADD COLUMN views INT NOT NULL DEFAULT 0 AFTER title, "
                     "ADD INDEX by_views (views), DROP INDEX by_title")
    assert [r[0] for r in ctx.rows("SHOW COLUMNS FROM posts")] == [
        "id", "author_id", "title", "views", "body"]
    assert [r[2] for r in ctx.rows("SHOW INDEX FROM posts")] == ["PRIMARY", "fk_author",
                                                                 "by_views"]
    assert "  `views` int NOT NULL DEFAULT '0',\n" in ctx.rows("SHOW CREATE TABLE posts")[0][1]


def test_comment_change_is_reflected(ctx: CatalogTestContext) -> None:
    sql = "SELECT table_comment FROM information_schema.tables WHERE table_name = 'authors'"
    assert ctx.rows(sql) == [("writers",)]
    ctx.mysql("app", "ALTER TABLE authors COMMENT = 'people who write'")
    assert ctx.rows(sql) == [("people who write",)]


def test_rename_and_drop(ctx: CatalogTestContext) -> None:
    ctx.mysql("app", "RENAME TABLE posts TO articles")
    assert [r[0] for r in ctx.rows("SHOW TABLES")] == ["articles", "authors"]
    assert ctx.rows("SHOW CREATE TABLE articles")[0][1].startswith("CREATE TABLE `articles` (")
    ctx.mysql("app", "DROP TABLE articles")
    assert [r[0] for r in ctx.rows("SHOW TABLES")] == ["authors"]
    assert ctx.rows("SELECT COUNT(*) FROM information_schema.key_column_usage "
                    "WHERE referenced_table_name IS NOT NULL") == [(0,)]


def test_views_and_foreign_keys_in_information_schema(ctx: CatalogTestContext) -> None:
    ctx.mysql("app", "CREATE VIEW recent AS SELECT id, title FROM posts WHERE id > 10")
    assert ctx.rows("SHOW FULL TABLES") == [("authors", "BASE TABLE"), ("posts", "BASE TABLE"),
                                            ("recent", "VIEW")]
    assert ctx.rows("SELECT view_definition FROM information_schema.views "
                    "WHERE table_name = 'recent'") == [
        ("SELECT id, title FROM posts WHERE id > 10",)]
    assert ctx.rows("SELECT constraint_name, update_rule, delete_rule, "
                    "referenced_table_name, unique_constraint_name FROM "
                    "information_schema.referential_constraints") == [
        ("fk_author", "NO ACTION", "CASCADE", "authors", "PRIMARY")]


def test_auto_increment_follows_inserts(ctx: CatalogTestContext) -> None:
    ctx.q("SET information_schema_stats_expiry = 0")
    sql = "SELECT auto_increment, table_rows FROM information_schema.tables WHERE " \
          "table_name = 'authors'"
    assert ctx.rows(sql) == [(3, 2)]
    ctx.mysql("app", "INSERT INTO authors (id, email) VALUES (10, 'c@x.io')")
    assert ctx.rows(sql) == [(11, 3)]
    assert "AUTO_INCREMENT=11 " in ctx.rows("SHOW CREATE TABLE authors")[0][1]
