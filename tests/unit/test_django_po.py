"""The Django catalog source: real pairs in several languages, .mo parsing rules, errors."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from distill.data.sources import django_po as dp
from distill.errors import DistillError

LOW_RESOURCE = ["br", "kab", "udm", "ast", "dsb", "hsb"]


def test_languages_include_low_resource_ones_and_no_english() -> None:
    langs = dp.django_languages()
    assert langs == sorted(langs)
    assert len(langs) >= 90
    assert set(LOW_RESOURCE) <= set(langs)
    assert {"it", "pt_BR", "zh_Hans", "zh_Hant", "sr_Latn"} <= set(langs)
    assert not [lang for lang in langs if lang == "en" or lang.startswith("en_")]


@pytest.mark.parametrize(
    ("lang", "minimum", "src", "tgt"),
    [
        ("it", 700, "Enter a valid email address.", "Inserisci un indirizzo email valido."),
        ("pt-BR", 700, "Yes", "Sim"),
        ("br", 300, "January", "Genver"),  # Breton
        ("kab", 250, "Yes", "Ih"),  # Kabyle
        ("udm", 150, "Delete", "Ӵушоно"),  # Udmurt
    ],
)
def test_real_pairs(lang: str, minimum: int, src: str, tgt: str) -> None:
    data = dp.load_django_pairs(lang)
    assert data.column_names == list(dp.COLUMNS)
    rows = data.to_list()
    assert len(rows) >= minimum
    assert {"src": src, "tgt": tgt} in [{"src": r["src"], "tgt": r["tgt"]} for r in rows]
    assert len({(r["src"], r["tgt"]) for r in rows}) == len(rows)  # de-duplicated
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(r["src"] and r["tgt"] and r["src"] != r["tgt"] for r in rows)
    assert all(r["src"] == r["src"].strip() and r["tgt"] == r["tgt"].strip() for r in rows)
    assert rows[0]["catalog"] == dp.CORE_CATALOG


def test_plural_entries_use_the_catalogs_plural_rule() -> None:
    rows = dp.load_django_pairs("ru").to_list()
    ru = {r["src"]: r["tgt"] for r in rows if r["catalog"] == dp.CORE_CATALOG}
    assert ru["%(num)d day"] == "%(num)d день"
    assert ru["%(num)d days"] == "%(num)d дней"  # the n=5 form, not the paucal "дня"
    ar = {r["src"]: r["tgt"] for r in dp.load_django_pairs("ar").to_list() if r["catalog"] == dp.CORE_CATALOG}
    assert ar["%(num)d days"] == "%(num)d أيام"  # not the dual "يومين"


def test_loading_is_deterministic_and_filters_apply() -> None:
    first = dp.load_django_pairs("it").to_dict()
    dp._language_pairs.cache_clear()
    assert dp.load_django_pairs("it").to_dict() == first
    long = dp.load_django_pairs("it", min_words=4).to_list()
    assert 0 < len(long) < len(first["src"])
    assert all(len(r["src"].split()) >= 4 for r in long)
    short = dp.load_django_pairs("it", max_words=1).to_list()
    assert short
    assert all(len(r["src"].split()) == 1 for r in short)
    no_js = dp.load_django_pairs("it", include_js=False)
    assert "admin-js" in first["catalog"]
    assert "admin-js" not in set(no_js["catalog"])
    assert len(dp.load_django_pairs("it", keep_identical=True)) > len(first["src"])


def test_language_codes_are_resolved() -> None:
    assert dp.resolve_django_lang("pt-BR") == "pt_BR"
    assert dp.resolve_django_lang("pt_br") == "pt_BR"
    assert dp.resolve_django_lang("zh") == "zh_Hans"
    assert dp.resolve_django_lang("zh-Hant") == "zh_Hant"
    assert dp.resolve_django_lang("sr-latn") == "sr_Latn"


@pytest.mark.parametrize("lang", ["xx", "en", "klingon"])
def test_unknown_language_lists_available_codes(lang: str) -> None:
    with pytest.raises(DistillError, match=r"no translation catalog for .*available: af, am, ar, .*zh_Hant"):
        dp.load_django_pairs(lang)


def test_no_pairs_after_filtering_is_an_error() -> None:
    with pytest.raises(DistillError, match="no Django translation pairs for 'it' pass the filters"):
        dp.load_django_pairs("it", min_words=1000)


def test_django_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    real = dp.importlib.util.find_spec
    monkeypatch.setattr(dp.importlib.util, "find_spec", lambda name: None if name == "django" else real(name))
    with pytest.raises(DistillError, match="pip install django"):
        dp.django_languages()


def test_cli_prints_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert dp.main(["it", "br", "pt-BR"]) == 0
    lines = capsys.readouterr().out.splitlines()
    counts = {line.split()[0]: int(line.split()[1]) for line in lines}
    assert counts["it"] == len(dp.load_django_pairs("it"))
    assert counts["br"] == len(dp.load_django_pairs("br"))
    assert counts["total"] == counts["it"] + counts["br"] + counts["pt_BR"]
    assert dp.main(["xx"]) == 2


# ------------------------------------------------------------------------------ synthetic catalogs


def _mo(entries: dict[bytes, bytes], big_endian: bool = False) -> bytes:
    """Compile entries into a GNU .mo file (originals sorted, as msgfmt writes them)."""
    fmt = ">" if big_endian else "<"
    items = sorted(entries.items())
    count = len(items)
    originals, translations = 28, 28 + 8 * count
    blob, table_o, table_t = b"", [], []
    start = 28 + 16 * count
    for original, _ in items:
        table_o.append((len(original), start + len(blob)))
        blob += original + b"\0"
    for _, translation in items:
        table_t.append((len(translation), start + len(blob)))
        blob += translation + b"\0"
    head = struct.pack(fmt + "7I", 0x950412DE, 0, count, originals, translations, 0, 0)
    tables = b"".join(struct.pack(fmt + "2I", *d) for d in table_o + table_t)
    return head + tables + blob


HEADER = (
    b"Content-Type: text/plain; charset=UTF-8\n"
    b"Plural-Forms: nplurals=3; plural=(n==1) ? 0 : (n>=2 && n<=4) ? 1 : 2;\n"
)


@pytest.fixture
def fake_django(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Django-like tree with a Czech core catalog and admin catalogs (python and JavaScript)."""
    root = tmp_path / "django"

    def write(rel: str, entries: dict[bytes, bytes], big_endian: bool = False) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_mo({b"": HEADER, **entries}, big_endian))

    write(
        "conf/locale/cs/LC_MESSAGES/django.mo",
        {
            b"Hello": b"Ahoj",
            b"menu\x04Open": "Otevřít".encode(),  # a context: kept, context dropped
            b"%(n)d file\x00%(n)d files": "%(n)d soubor\x00%(n)d soubory\x00%(n)d souborů".encode(),
            b"%(n)d day\x00%(n)d days": b"%(n)d den\x00\x00",  # plural forms left empty
            b"Empty": b"",
            b"OK": b"OK",
            b"  Save  ": " Uložit ".encode(),
        },
        big_endian=True,
    )
    write("conf/locale/en/LC_MESSAGES/django.mo", {})
    write("contrib/admin/locale/cs/LC_MESSAGES/django.mo", {b"Hello": b"Ahoj", b"Hello ": b"Nazdar"})
    write("contrib/admin/locale/cs/LC_MESSAGES/djangojs.mo", {b"Now": "Teď".encode()})
    monkeypatch.setattr(dp, "_django_root", lambda: root)
    return root


def test_mo_parsing_rules_on_a_synthetic_catalog(fake_django: Path) -> None:
    assert dp.django_languages() == ["cs"]
    rows = dp.load_django_pairs("cs").to_list()
    assert [(r["src"], r["tgt"], r["catalog"]) for r in rows] == [
        ("Save", "Uložit", "core"),
        ("%(n)d day", "%(n)d den", "core"),
        ("%(n)d file", "%(n)d soubor", "core"),
        ("%(n)d files", "%(n)d souborů", "core"),
        ("Hello", "Ahoj", "core"),
        ("Open", "Otevřít", "core"),
        ("Hello", "Nazdar", "admin"),  # admin's ("Hello", "Ahoj") is a duplicate of core's
        ("Now", "Teď", "admin-js"),
    ]
    assert all(r["id"].startswith("django/cs/") for r in rows)
    assert [r["src"] for r in dp.load_django_pairs("cs", min_words=2).to_list()] == [
        "%(n)d day",
        "%(n)d file",
        "%(n)d files",
    ]
    assert ("OK", "OK") in [
        (r["src"], r["tgt"]) for r in dp.load_django_pairs("cs", keep_identical=True).to_list()
    ]
    assert dp.django_pair_counts() == {"cs": 8}


def test_a_corrupt_catalog_is_a_distill_error(fake_django: Path) -> None:
    (fake_django / "conf/locale/cs/LC_MESSAGES/django.mo").write_bytes(b"not a catalog at all, sorry")
    with pytest.raises(DistillError, match=r"is not a gettext \.mo file"):
        dp.load_django_pairs("cs")
