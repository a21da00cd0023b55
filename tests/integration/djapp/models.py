# ruff: noqa: RUF012  (Django declares Meta options as class-level lists)
"""Models covering what Django's MySQL schema editor emits: FKs (CASCADE, SET_NULL), an M2M
through table, db_index, composite and descending indexes, a unique constraint over two
columns, decimals, dates, booleans, JSON."""

from __future__ import annotations

from django.db import models


class Publisher(models.Model):
    name = models.CharField(max_length=100, unique=True)
    country_code = models.CharField(max_length=2, default="GB")  # 0002: renamed


class Author(models.Model):
    name = models.CharField(max_length=100)
    email = models.EmailField(null=True, blank=True, unique=True)
    born = models.DateField(null=True, blank=True)
    nickname = models.CharField(max_length=30, default="")  # 0002: added with a default

    class Meta:
        indexes = [models.Index(fields=["name"], name="author_name_idx")]


class Tag(models.Model):
    label = models.SlugField(max_length=40, unique=True)


class Book(models.Model):
    title = models.CharField(max_length=250, db_index=True)  # 0002: widened
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    publisher = models.ForeignKey(Publisher, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="books")
    price = models.DecimalField(max_digits=8, decimal_places=2)
    published = models.DateField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    pages = models.PositiveIntegerField(default=0)
    in_print = models.BooleanField(default=True)
    metadata = models.JSONField(default=dict)
    tags = models.ManyToManyField(Tag, related_name="books", blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["author", "title"],
                                               name="unique_author_title")]
        indexes = [models.Index(fields=["publisher", "-published"], name="pub_date_idx"),
                   models.Index(fields=["in_print", "pages"], name="print_pages_idx")]  # 0002
