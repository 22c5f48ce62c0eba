"""decode_html: header charset, <meta>, mislabels, legacy encodings, BOMs, junk labels."""

from __future__ import annotations

import pytest

from curate.io.charset import decode_html

RU = "Съешь же ещё этих мягких французских булок, да выпей чаю. " * 5
JA = "日本語のテキストです。これは文字コードのテストです。ウェブページの本文。" * 5
FR = "Déjà vu: l'été à Noël, où est le café? Ça coûte 5 € — « très cher »." * 5


def html(text: str, meta: str = "") -> str:
    return f"<html><head>{meta}<title>t</title></head><body><p>{text}</p></body></html>"


@pytest.mark.parametrize(
    "text,enc", [(RU, "koi8-r"), (RU, "cp1251"), (JA, "shift_jis"), (JA, "euc-jp"), (FR, "cp1252")]
)
def test_header_charset(text, enc):
    out, used = decode_html(html(text).encode(enc), enc)
    assert text in out


@pytest.mark.parametrize("text,enc", [(RU, "koi8-r"), (JA, "shift_jis"), (FR, "cp1252")])
def test_meta_charset_only(text, enc):
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset={enc}">'
    out, used = decode_html(html(text, meta).encode(enc), None)
    assert text in out
    out, _ = decode_html(html(text, f'<meta charset="{enc}">').encode(enc), None)
    assert text in out


def test_meta_after_long_head_is_found():
    meta = "<script>" + "var x = 1;\n" * 200 + "</script><meta charset=koi8-r>"
    out, used = decode_html(html(RU, meta).encode("koi8-r"), None)
    assert RU in out and used == "koi8-r"


@pytest.mark.parametrize("text,enc", [(RU, "koi8-r"), (JA, "shift_jis")])
def test_no_declaration_is_detected(text, enc):
    out, used = decode_html(html(text).encode(enc), None)
    assert text in out


def test_wrong_header_charset_on_utf8_body():
    # header says ISO-8859-1, body and <meta> are UTF-8 (a page converted without fixing its server)
    body = html(FR + RU, '<meta charset="utf-8">').encode("utf-8")
    out, used = decode_html(body, "iso-8859-1")
    assert FR + RU in out and used == "utf-8"


def test_wrong_header_charset_legacy_vs_meta():
    # header says shift_jis, the page is koi8-r as its <meta> says: too many replacements -> detection
    out, used = decode_html(html(RU, "<meta charset=koi8-r>").encode("koi8-r"), "shift_jis")
    assert RU in out


@pytest.mark.parametrize("label", ["x-user-defined", "bogus-charset", '"', "", "utf-8, iso-8859-1"])
def test_junk_labels_fall_back(label):
    out, used = decode_html(html(FR).encode("utf-8"), label)
    assert FR in out
    out, used = decode_html(html(FR).encode("cp1252"), label)
    assert FR in out


@pytest.mark.parametrize("enc", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_bom_wins(enc):
    data = html(JA).encode(enc)
    if enc == "utf-16-be":
        data = b"\xfe\xff" + data
    out, used = decode_html(data, "iso-8859-1")
    assert JA in out and not out.startswith("\ufeff")


def test_undecodable_bytes_never_raise():
    out, used = decode_html(b"<html>\xff\xfe\x00\x81\x8d broken \xe2\x82</html>", "utf-8")
    assert "broken" in out
    out, _ = decode_html(b"", None)
    assert out == ""


def test_utf8_page_declared_utf16_is_read_as_utf8():
    # issue 18: a real UTF-8 page (an.wikipedia.org, CC capture) whose header or <meta> says utf-16
    from _warcgen import DATA

    from curate.io.warc import read_warc

    [doc] = read_warc(str(DATA / "cc-main-2024-22-whirlwind.warc.gz"))
    body = doc["_html"]
    for label in ("utf-16", "UTF-16LE", "utf-32"):
        out, used = decode_html(body, label)
        assert out == body.decode("utf-8") and used == "utf-8"  # before: mojibake decoded as UTF-16
    meta = body.replace(b"<head>", b'<head><meta charset="utf-16">', 1)
    assert decode_html(meta, None) == (meta.decode("utf-8"), "utf-8")
    # genuine UTF-16 / ISO-2022 without a BOM still follow their declaration
    assert decode_html(html(JA).encode("utf-16-le"), "utf-16le")[0] == html(JA)
    assert decode_html(html(JA).encode("iso-2022-jp"), "iso-2022-jp")[0] == html(JA)
    assert decode_html(html(FR).encode("utf-8"), "iso-2022-jp") == (html(FR), "utf-8")
