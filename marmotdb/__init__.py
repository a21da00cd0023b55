"""marmotdb: a leaderless, distributed SQLite cluster that speaks the MySQL wire protocol."""

__version__ = "0.1.0"
