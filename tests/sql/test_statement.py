from marmotdb.sql.statement import keywords, strip_leading


def test_strip_leading_comments_and_versioned_bodies():
    assert strip_leading("  -- note\n# more\n/* c */ SELECT 1;") == "SELECT 1"
    assert strip_leading("/*!40101 SET NAMES utf8 */;") == "SET NAMES utf8"
    # A MySQL 8.0.36 server skips MariaDB-only bodies and those for newer versions.
    assert strip_leading("/*M!100100 SET @@MAX_STATEMENT_TIME=0 */") == ""
    assert strip_leading("/*!90000 SET x = 1 */") == ""
    assert strip_leading("/*!80036 SET y = 1 */") == "SET y = 1"
    assert strip_leading("/*M!999999\\- enable the sandbox mode */\nSET NAMES utf8") == \
        "SET NAMES utf8"
    assert strip_leading("SELECT /*!40001 SQL_NO_CACHE */ * FROM t") == \
        "SELECT /*!40001 SQL_NO_CACHE */ * FROM t"


def test_keywords():
    assert keywords("start  transaction read only") == ("START", "TRANSACTION")
    assert keywords("select@@x") == ("SELECT",)
    assert keywords("CREATE DATABASE x", 3) == ("CREATE", "DATABASE", "X")
    assert keywords("") == ()


def test_strip_leading_follows_the_lexer():
    # A hint before the first keyword is a comment; a versioned body that is not the whole
    # statement is left in place; a nested comment inside the body does not end it early.
    assert strip_leading("/*+ hint */ SELECT 1") == "SELECT 1"
    assert strip_leading("/*!40101 SET a = 1 */ , b = 2") == "/*!40101 SET a = 1 */ , b = 2"
    assert strip_leading("/*!40101 SET @a = '*/' /* c */ */ ;  ") == "SET @a = '*/' /* c */"
    assert strip_leading("/*! */") == ""
    assert strip_leading("-- a\n--\n#\n") == ""


def test_keywords_skip_comments_between_words():
    assert keywords("SELECT /* c */ DISTINCT a") == ("SELECT", "DISTINCT")
    assert keywords("CREATE /*!32312 TEMPORARY */ TABLE t", 3) == ("CREATE", "TEMPORARY", "TABLE")
    assert keywords("DROP /*!99999 TEMPORARY */ TABLE t", 3) == ("DROP", "TABLE", "T")
    assert keywords("SET x = 1", 0) == ()


def test_marker_count_ignores_strings_names_and_comments():
    from marmotdb.sql.statement import marker_count
    assert marker_count("SELECT ?, '?', `?`, \"?\" /* ? */ FROM t WHERE a = ? -- ?\n") == 2
    assert marker_count("SELECT 1") == 0


def test_is_locking_read_reads_words_only():
    from marmotdb.sql.statement import is_locking_read
    assert is_locking_read("SELECT a FROM t WHERE id = 1 FOR UPDATE")
    assert is_locking_read("SELECT a FROM t for /* x */ share")
    assert is_locking_read("SELECT a FROM t LOCK IN SHARE MODE")
    assert not is_locking_read("SELECT 'for update' FROM t")
    assert not is_locking_read("SELECT a FROM t -- FOR UPDATE\n")
    assert not is_locking_read("SELECT `for` update FROM t")
    assert not is_locking_read("UPDATE t SET a = 1")
