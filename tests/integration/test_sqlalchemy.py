"""SQLAlchemy 2.x against a real ``marmotdb serve``: ORM, DDL, transactions, reflection.

Every test runs on both MySQL drivers SQLAlchemy supports here (``mysql+pymysql`` and
``mysql+mysqlconnector``), each in its own database so the two never see each other's tables.
Reflection in SQLAlchemy's MySQL dialect parses ``SHOW CREATE TABLE``, so these tests also check
that the catalog renders MySQL DDL a real client can read back.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Iterator

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    create_engine,
    delete,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
)

from tests.integration.server import MarmotServer

pytestmark = pytest.mark.integration

DRIVERS = ("pymysql", "mysqlconnector")


class Base(DeclarativeBase):
    pass


book_tags = Table(
    "book_tags", Base.metadata,
    Column("book_id", ForeignKey("books.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
)


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    email: Mapped[str | None] = mapped_column(String(120))
    books: Mapped[list[Book]] = relationship(back_populates="author",
                                             cascade="all, delete-orphan",
                                             order_by="Book.id")


class Book(Base):
    __tablename__ = "books"
    __table_args__ = (Index("ix_books_author_published", "author_id", "published"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200), index=True)
    price: Mapped[decimal.Decimal] = mapped_column(Numeric(10, 2))
    in_print: Mapped[bool] = mapped_column(Boolean, default=True)
    published: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    blurb: Mapped[str | None] = mapped_column(Text)
    cover: Mapped[bytes | None] = mapped_column(LargeBinary)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id", ondelete="CASCADE"))
    author: Mapped[Author] = relationship(back_populates="books")
    tags: Mapped[list[Tag]] = relationship(secondary=book_tags, back_populates="books",
                                           order_by="Tag.label")


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(40), unique=True)
    books: Mapped[list[Book]] = relationship(secondary=book_tags, back_populates="tags")


@pytest.fixture(scope="module", params=DRIVERS)
def engine(request: pytest.FixtureRequest, marmot_server: MarmotServer) -> Iterator[Engine]:
    database = f"sa_{request.param}"
    conn = marmot_server.connect(autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {database} CHARACTER SET utf8mb4")
    conn.close()
    url = (f"mysql+{request.param}://{marmot_server.user}:{marmot_server.password}"
           f"@{marmot_server.host}:{marmot_server.port}/{database}?charset=utf8mb4")
    eng = create_engine(url, pool_size=2, max_overflow=0)
    yield eng
    eng.dispose()


@pytest.fixture
def schema(engine: Engine) -> Iterator[Engine]:
    """The models' tables, freshly created for each test and dropped after it."""
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    yield engine
    Base.metadata.drop_all(engine)


def _populate(session: Session) -> None:
    fantasy, classic = Tag(label="fantasy"), Tag(label="classic")
    session.add_all([
        Author(name="Ursula K. Le Guin", email=None, books=[
            Book(title="A Wizard of Earthsea", price=decimal.Decimal("9.99"),
                 published=datetime.datetime(1968, 11, 1, 8, 30), tags=[fantasy, classic]),
            Book(title="The Dispossessed", price=decimal.Decimal("12.50"), in_print=False,
                 blurb="An ambiguous utopia ✨", tags=[classic]),
        ]),
        Author(name="Terry Pratchett", email="tp@example.org", books=[
            Book(title="Mort", price=decimal.Decimal("7.25"), tags=[fantasy]),
        ]),
    ])
    session.commit()


def test_create_all_and_drop_all(engine: Engine) -> None:
    Base.metadata.drop_all(engine)
    assert not any(inspect(engine).has_table(name) for name in Base.metadata.tables)
    Base.metadata.create_all(engine)
    assert sorted(inspect(engine).get_table_names()) == ["authors", "book_tags", "books", "tags"]
    Base.metadata.create_all(engine)  # checkfirst: a second run creates nothing and succeeds
    Base.metadata.drop_all(engine)
    assert inspect(engine).get_table_names() == []


def test_orm_crud_with_relationships(schema: Engine) -> None:
    with Session(schema) as session:
        _populate(session)
    with Session(schema) as session:
        le_guin = session.scalars(select(Author).where(Author.name == "Ursula K. Le Guin")).one()
        assert [b.title for b in le_guin.books] == ["A Wizard of Earthsea", "The Dispossessed"]
        earthsea, dispossessed = le_guin.books
        assert earthsea.price == decimal.Decimal("9.99")
        assert earthsea.published == datetime.datetime(1968, 11, 1, 8, 30)
        assert earthsea.in_print is True and dispossessed.in_print is False
        assert dispossessed.blurb == "An ambiguous utopia ✨"
        assert earthsea.blurb is None and le_guin.email is None
        assert [t.label for t in earthsea.tags] == ["classic", "fantasy"]

        fantasy = session.scalars(select(Tag).where(Tag.label == "fantasy")
                                  .options(selectinload(Tag.books))).one()
        assert sorted(b.title for b in fantasy.books) == ["A Wizard of Earthsea", "Mort"]

        rows = session.execute(
            select(Author.name, func.count(Book.id), func.max(Book.price))
            .join(Author.books).group_by(Author.name).order_by(Author.name)).all()
        assert rows == [("Terry Pratchett", 1, decimal.Decimal("7.25")),
                        ("Ursula K. Le Guin", 2, decimal.Decimal("12.50"))]

        earthsea.price = decimal.Decimal("10.00")
        session.commit()
        assert session.scalar(select(Book.price).where(Book.id == earthsea.id)) == \
            decimal.Decimal("10.00")

        result = session.execute(update(Book).where(Book.price < 10).values(in_print=False))
        assert result.rowcount == 1  # only Mort (7.25)
        session.commit()

        session.delete(le_guin)  # ORM cascade deletes the books and their tag links
        session.commit()
        assert session.scalar(select(func.count()).select_from(Book)) == 1
        assert session.scalar(select(func.count()).select_from(book_tags)) == 1


def test_autoincrement_ids_and_unique_violation(schema: Engine) -> None:
    with Session(schema) as session:
        first, second = Author(name="A"), Author(name="B")
        session.add_all([first, second])
        session.flush()
        assert first.id >= 1 and second.id == first.id + 1
        session.commit()
    with Session(schema) as session:
        session.add(Author(name="A"))
        with pytest.raises(IntegrityError) as info:
            session.commit()
        assert info.value.orig.args[0] == 1062  # ER_DUP_ENTRY
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Author)) == 2


def test_foreign_keys_enforced_with_cascade(schema: Engine) -> None:
    with schema.connect() as conn:
        with pytest.raises(IntegrityError) as info:
            conn.execute(Book.__table__.insert().values(title="orphan", price=1,
                                                        author_id=999))
        assert info.value.orig.args[0] == 1452  # ER_NO_REFERENCED_ROW_2
        conn.rollback()
    with Session(schema) as session:
        _populate(session)
    with schema.begin() as conn:  # a Core DELETE: the database's ON DELETE CASCADE acts
        conn.execute(delete(Author).where(Author.name == "Terry Pratchett"))
    with schema.connect() as conn:
        titles = conn.scalars(select(Book.title).order_by(Book.title)).all()
        assert titles == ["A Wizard of Earthsea", "The Dispossessed"]


def test_transactions_commit_rollback_savepoint(schema: Engine) -> None:
    with Session(schema) as session:
        session.add(Author(name="kept"))
        session.flush()
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Author)) == 0

    with pytest.raises(RuntimeError), schema.begin() as conn:
        conn.execute(Author.__table__.insert().values(name="lost"))
        raise RuntimeError("abort the transaction")
    with schema.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Author)) == 0

    with Session(schema) as session:
        session.add(Author(name="outer"))
        nested = session.begin_nested()  # SAVEPOINT
        session.add(Author(name="inner"))
        session.flush()
        nested.rollback()  # ROLLBACK TO SAVEPOINT
        session.commit()
    with schema.connect() as conn:
        assert conn.scalars(select(Author.name)).all() == ["outer"]


def test_inspect_columns_indexes_foreign_keys_pk(schema: Engine) -> None:
    insp = inspect(schema)
    columns = {c["name"]: c for c in insp.get_columns("books")}
    assert list(columns) == ["id", "title", "price", "in_print", "published", "blurb",
                             "cover", "author_id"]
    assert isinstance(columns["id"]["type"], mysql.INTEGER)
    assert columns["id"]["autoincrement"] is True and columns["id"]["nullable"] is False
    assert isinstance(columns["title"]["type"], mysql.VARCHAR)
    assert columns["title"]["type"].length == 200 and columns["title"]["nullable"] is False
    price = columns["price"]["type"]
    assert isinstance(price, mysql.DECIMAL) and (price.precision, price.scale) == (10, 2)
    assert isinstance(columns["in_print"]["type"], (mysql.TINYINT, mysql.BOOLEAN))
    assert isinstance(columns["published"]["type"], mysql.DATETIME)
    assert columns["published"]["nullable"] is True
    assert isinstance(columns["blurb"]["type"], mysql.TEXT)
    assert isinstance(columns["cover"]["type"], mysql.BLOB)

    assert insp.get_pk_constraint("books")["constrained_columns"] == ["id"]
    assert insp.get_pk_constraint("book_tags")["constrained_columns"] == ["book_id", "tag_id"]

    indexes = {ix["name"]: ix for ix in insp.get_indexes("books")}
    assert indexes["ix_books_title"]["column_names"] == ["title"]
    assert not indexes["ix_books_title"]["unique"]
    assert indexes["ix_books_author_published"]["column_names"] == ["author_id", "published"]
    unique_names = {tuple(u["column_names"]) for u in insp.get_unique_constraints("authors")}
    unique_names |= {tuple(ix["column_names"]) for ix in insp.get_indexes("authors")
                     if ix["unique"]}
    assert ("name",) in unique_names

    fks = insp.get_foreign_keys("books")
    assert [(fk["constrained_columns"], fk["referred_table"], fk["referred_columns"],
             fk["options"].get("ondelete")) for fk in fks] == \
        [(["author_id"], "authors", ["id"], "CASCADE")]
    link_fks = sorted((fk["referred_table"], fk["constrained_columns"][0])
                      for fk in insp.get_foreign_keys("book_tags"))
    assert link_fks == [("books", "book_id"), ("tags", "tag_id")]


def test_metadata_reflect_then_query(schema: Engine) -> None:
    with Session(schema) as session:
        _populate(session)
    reflected = MetaData()
    reflected.reflect(schema)
    assert set(reflected.tables) == {"authors", "books", "tags", "book_tags"}
    books, authors = reflected.tables["books"], reflected.tables["authors"]
    assert {fk.column.table.name for fk in books.foreign_keys} == {"authors"}
    query = (select(authors.c.name, books.c.title).join_from(books, authors)
             .where(books.c.price > 8).order_by(books.c.title))
    with schema.connect() as conn:
        assert conn.execute(query).all() == [
            ("Ursula K. Le Guin", "A Wizard of Earthsea"),
            ("Ursula K. Le Guin", "The Dispossessed")]
        conn.execute(books.insert().values(title="Small Gods", price=decimal.Decimal("8.50"),
                                           in_print=1, author_id=select(authors.c.id).where(
                                               authors.c.name == "Terry Pratchett")
                                           .scalar_subquery()))
        conn.commit()
        assert conn.scalar(select(func.count()).select_from(books)) == 4


def test_migration_like_ddl(schema: Engine) -> None:
    """What a migration tool emits: add/drop columns and indexes, rename, new tables."""
    with schema.begin() as conn:
        conn.execute(text("ALTER TABLE authors ADD COLUMN born DATE NULL"))
        conn.execute(text("ALTER TABLE authors ADD COLUMN country VARCHAR(2) "
                          "NOT NULL DEFAULT 'GB'"))
        conn.execute(text("INSERT INTO authors (name) VALUES ('x')"))
    review = Table("reviews", MetaData(),
                   Column("id", Integer, primary_key=True),
                   Column("book_id", Integer, nullable=False),
                   Column("stars", mysql.TINYINT(unsigned=True), nullable=False))
    with schema.begin() as conn:
        review.create(conn)
        Index("ix_reviews_book", review.c.book_id).create(conn)
        conn.execute(text("ALTER TABLE authors RENAME COLUMN country TO country_code"))
        conn.execute(text("ALTER TABLE authors DROP COLUMN born"))
    insp = inspect(schema)
    columns = {c["name"]: c for c in insp.get_columns("authors")}
    assert list(columns) == ["id", "name", "email", "country_code"]
    assert columns["country_code"]["default"] in ("'GB'", "GB")
    assert [ix["name"] for ix in insp.get_indexes("reviews")] == ["ix_reviews_book"]
    with schema.begin() as conn:
        assert conn.execute(text("SELECT name, country_code FROM authors")).all() == \
            [("x", "GB")]
        Index("ix_reviews_book", review.c.book_id).drop(conn)
        review.drop(conn)
    assert not inspect(schema).has_table("reviews")


def test_binary_values_round_trip(schema: Engine) -> None:
    payloads = [b"\x00\x01\xfe\xff", bytes(range(256)), b"", b"'\\\"\n"]
    with Session(schema) as session:
        author = Author(name="bin")
        author.books = [Book(title=f"b{i}", price=1, cover=p) for i, p in enumerate(payloads)]
        session.add(author)
        session.commit()
    with schema.connect() as conn:
        assert conn.scalars(select(Book.cover).order_by(Book.id)).all() == payloads
        assert conn.scalar(select(Book.title).where(Book.cover == payloads[0])) == "b0"


def test_decimal_aggregates_are_decimal(schema: Engine) -> None:
    with Session(schema) as session:
        _populate(session)
        rows = session.execute(
            select(Author.name, func.sum(Book.price), func.avg(Book.price))
            .join(Author.books).group_by(Author.name).order_by(Author.name)).all()
    assert rows == [("Terry Pratchett", decimal.Decimal("7.25"), decimal.Decimal("7.250000")),
                    ("Ursula K. Le Guin", decimal.Decimal("22.49"),
                     decimal.Decimal("11.245000"))]
