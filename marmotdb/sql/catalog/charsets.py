"""Character sets and collations as MySQL 8.0 reports them.

marmotdb stores text as SQLite UTF-8 whatever the client declares, so these tables only have to
answer the questions clients and tools ask (SHOW CHARSET / COLLATION, INFORMATION_SCHEMA,
validation of SET NAMES and character_set_* / collation_* variables). The subset below covers
every character set a client library negotiates in practice; ids are MySQL's collation ids.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Charset:
    name: str
    description: str
    default_collation: str
    maxlen: int


@dataclass(frozen=True, slots=True)
class Collation:
    name: str
    charset: str
    id: int
    is_default: bool
    sortlen: int
    pad_attribute: str  # 'PAD SPACE' | 'NO PAD'


DEFAULT_CHARSET = "utf8mb4"
DEFAULT_COLLATION = "utf8mb4_0900_ai_ci"

CHARSETS: dict[str, Charset] = {c.name: c for c in (
    Charset("ascii", "US ASCII", "ascii_general_ci", 1),
    Charset("big5", "Big5 Traditional Chinese", "big5_chinese_ci", 2),
    Charset("binary", "Binary pseudo charset", "binary", 1),
    Charset("cp1250", "Windows Central European", "cp1250_general_ci", 1),
    Charset("cp1251", "Windows Cyrillic", "cp1251_general_ci", 1),
    Charset("cp1256", "Windows Arabic", "cp1256_general_ci", 1),
    Charset("cp1257", "Windows Baltic", "cp1257_general_ci", 1),
    Charset("cp850", "DOS West European", "cp850_general_ci", 1),
    Charset("cp932", "SJIS for Windows Japanese", "cp932_japanese_ci", 2),
    Charset("euckr", "EUC-KR Korean", "euckr_korean_ci", 2),
    Charset("gb18030", "China National Standard GB18030", "gb18030_chinese_ci", 4),
    Charset("gb2312", "GB2312 Simplified Chinese", "gb2312_chinese_ci", 2),
    Charset("gbk", "GBK Simplified Chinese", "gbk_chinese_ci", 2),
    Charset("greek", "ISO 8859-7 Greek", "greek_general_ci", 1),
    Charset("hebrew", "ISO 8859-8 Hebrew", "hebrew_general_ci", 1),
    Charset("koi8r", "KOI8-R Relcom Russian", "koi8r_general_ci", 1),
    Charset("latin1", "cp1252 West European", "latin1_swedish_ci", 1),
    Charset("latin2", "ISO 8859-2 Central European", "latin2_general_ci", 1),
    Charset("sjis", "Shift-JIS Japanese", "sjis_japanese_ci", 2),
    Charset("ucs2", "UCS-2 Unicode", "ucs2_general_ci", 2),
    Charset("utf16", "UTF-16 Unicode", "utf16_general_ci", 4),
    Charset("utf16le", "UTF-16LE Unicode", "utf16le_general_ci", 4),
    Charset("utf32", "UTF-32 Unicode", "utf32_general_ci", 4),
    Charset("utf8mb3", "UTF-8 Unicode", "utf8mb3_general_ci", 3),
    Charset("utf8mb4", "UTF-8 Unicode", "utf8mb4_0900_ai_ci", 4),
)}

# Names MySQL accepts for a character set and maps to another one.
CHARSET_ALIASES: dict[str, str] = {"utf8": "utf8mb3"}

_PAD, _NOPAD = "PAD SPACE", "NO PAD"
_UCA400_LANGUAGES = (
    ("icelandic", 225), ("latvian", 226), ("romanian", 227), ("slovenian", 228),
    ("polish", 229), ("estonian", 230), ("spanish", 231), ("swedish", 232), ("turkish", 233),
    ("czech", 234), ("danish", 235), ("lithuanian", 236), ("slovak", 237), ("spanish2", 238),
    ("roman", 239), ("persian", 240), ("esperanto", 241), ("hungarian", 242),
    ("sinhala", 243), ("german2", 244), ("croatian", 245), ("vietnamese", 247),
)

COLLATIONS: dict[str, Collation] = {c.name: c for c in (
    Collation("ascii_general_ci", "ascii", 11, True, 1, _PAD),
    Collation("ascii_bin", "ascii", 65, False, 1, _PAD),
    Collation("big5_chinese_ci", "big5", 1, True, 1, _PAD),
    Collation("big5_bin", "big5", 84, False, 1, _PAD),
    Collation("binary", "binary", 63, True, 1, _NOPAD),
    Collation("cp1250_general_ci", "cp1250", 26, True, 1, _PAD),
    Collation("cp1250_bin", "cp1250", 66, False, 1, _PAD),
    Collation("cp1251_general_ci", "cp1251", 51, True, 1, _PAD),
    Collation("cp1251_bin", "cp1251", 50, False, 1, _PAD),
    Collation("cp1256_general_ci", "cp1256", 57, True, 1, _PAD),
    Collation("cp1256_bin", "cp1256", 67, False, 1, _PAD),
    Collation("cp1257_general_ci", "cp1257", 59, True, 1, _PAD),
    Collation("cp1257_bin", "cp1257", 58, False, 1, _PAD),
    Collation("cp850_general_ci", "cp850", 4, True, 1, _PAD),
    Collation("cp850_bin", "cp850", 80, False, 1, _PAD),
    Collation("cp932_japanese_ci", "cp932", 95, True, 1, _PAD),
    Collation("cp932_bin", "cp932", 96, False, 1, _PAD),
    Collation("euckr_korean_ci", "euckr", 19, True, 1, _PAD),
    Collation("euckr_bin", "euckr", 85, False, 1, _PAD),
    Collation("gb18030_chinese_ci", "gb18030", 248, True, 2, _PAD),
    Collation("gb18030_bin", "gb18030", 249, False, 1, _PAD),
    Collation("gb2312_chinese_ci", "gb2312", 24, True, 1, _PAD),
    Collation("gb2312_bin", "gb2312", 86, False, 1, _PAD),
    Collation("gbk_chinese_ci", "gbk", 28, True, 1, _PAD),
    Collation("gbk_bin", "gbk", 87, False, 1, _PAD),
    Collation("greek_general_ci", "greek", 25, True, 1, _PAD),
    Collation("greek_bin", "greek", 70, False, 1, _PAD),
    Collation("hebrew_general_ci", "hebrew", 16, True, 1, _PAD),
    Collation("hebrew_bin", "hebrew", 71, False, 1, _PAD),
    Collation("koi8r_general_ci", "koi8r", 7, True, 1, _PAD),
    Collation("koi8r_bin", "koi8r", 74, False, 1, _PAD),
    Collation("latin1_swedish_ci", "latin1", 8, True, 1, _PAD),
    Collation("latin1_german1_ci", "latin1", 5, False, 1, _PAD),
    Collation("latin1_danish_ci", "latin1", 15, False, 1, _PAD),
    Collation("latin1_german2_ci", "latin1", 31, False, 2, _PAD),
    Collation("latin1_bin", "latin1", 47, False, 1, _PAD),
    Collation("latin1_general_ci", "latin1", 48, False, 1, _PAD),
    Collation("latin1_general_cs", "latin1", 49, False, 1, _PAD),
    Collation("latin1_spanish_ci", "latin1", 94, False, 1, _PAD),
    Collation("latin2_general_ci", "latin2", 9, True, 1, _PAD),
    Collation("latin2_bin", "latin2", 77, False, 1, _PAD),
    Collation("sjis_japanese_ci", "sjis", 13, True, 1, _PAD),
    Collation("sjis_bin", "sjis", 88, False, 1, _PAD),
    Collation("ucs2_general_ci", "ucs2", 35, True, 1, _PAD),
    Collation("ucs2_bin", "ucs2", 90, False, 1, _PAD),
    Collation("ucs2_unicode_ci", "ucs2", 128, False, 8, _PAD),
    Collation("utf16_general_ci", "utf16", 54, True, 1, _PAD),
    Collation("utf16_bin", "utf16", 55, False, 1, _PAD),
    Collation("utf16_unicode_ci", "utf16", 101, False, 8, _PAD),
    Collation("utf16le_general_ci", "utf16le", 56, True, 1, _PAD),
    Collation("utf16le_bin", "utf16le", 62, False, 1, _PAD),
    Collation("utf32_general_ci", "utf32", 60, True, 1, _PAD),
    Collation("utf32_bin", "utf32", 61, False, 1, _PAD),
    Collation("utf32_unicode_ci", "utf32", 160, False, 8, _PAD),
    Collation("utf8mb3_general_ci", "utf8mb3", 33, True, 1, _PAD),
    Collation("utf8mb3_bin", "utf8mb3", 83, False, 1, _PAD),
    Collation("utf8mb3_unicode_ci", "utf8mb3", 192, False, 8, _PAD),
    Collation("utf8mb3_unicode_520_ci", "utf8mb3", 214, False, 8, _PAD),
    Collation("utf8mb4_0900_ai_ci", "utf8mb4", 255, True, 0, _NOPAD),
    Collation("utf8mb4_0900_as_ci", "utf8mb4", 305, False, 0, _NOPAD),
    Collation("utf8mb4_0900_as_cs", "utf8mb4", 278, False, 0, _NOPAD),
    Collation("utf8mb4_0900_bin", "utf8mb4", 309, False, 1, _NOPAD),
    Collation("utf8mb4_bin", "utf8mb4", 46, False, 1, _PAD),
    Collation("utf8mb4_general_ci", "utf8mb4", 45, False, 1, _PAD),
    Collation("utf8mb4_unicode_ci", "utf8mb4", 224, False, 8, _PAD),
    Collation("utf8mb4_unicode_520_ci", "utf8mb4", 246, False, 8, _PAD),
    # MySQL's per-language UCA 4.0.0 collations (ids 225-247). Comparison here is the same as
    # utf8mb4_unicode_ci's (SQLite's NOCASE, docs/compatibility.md); the language's own
    # tailoring (e.g. Spanish 'ñ' after 'n', German 'ä' = 'ae') is not applied.
    *(Collation(f"utf8mb4_{language}_ci", "utf8mb4", collation_id, False, 8, _PAD)
      for language, collation_id in _UCA400_LANGUAGES),
)}


def charset_named(name: str) -> Charset | None:
    """The character set called ``name`` (case-insensitive, aliases resolved), or None."""
    key = name.lower()
    return CHARSETS.get(CHARSET_ALIASES.get(key, key))


def collation_named(name: str) -> Collation | None:
    """The collation called ``name`` (case-insensitive; utf8_ names mean utf8mb3_), or None."""
    key = name.lower()
    if key.startswith("utf8_"):
        key = "utf8mb3_" + key[5:]
    return COLLATIONS.get(key)


def collation_by_id(collation_id: int) -> Collation | None:
    return _BY_ID.get(collation_id)


_BY_ID: dict[int, Collation] = {c.id: c for c in COLLATIONS.values()}
