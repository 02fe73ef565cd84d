"""MIME decoding and normalisation: rules see what the buyer would read, however it is encoded."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy.content import (
    classify_attachment,
    normalize,
    read_message,
    strip_quoted,
    text_links,
)
from tests.policy.mail import PDF, PNG, attachment, message, text_part


def test_normalize_folds_cyrillic_lookalikes_soft_hyphens_and_zero_width() -> None:
    assert normalize("R\u0430batt") == " rabatt "  # Cyrillic а
    assert normalize("R\u00adabatt") == " rabatt "  # soft hyphen
    assert normalize("Gut\u200bschein\u200dcode") == " gutscheincode "
    assert normalize("ΡΑΒΑΤΤ") == " pabatt "  # Greek capitals fold to Latin look-alikes
    assert normalize("ｃｏｕｐｏｎ") == " coupon "  # NFKC: full-width forms


def test_normalize_turns_punctuation_runs_into_one_space_but_keeps_percent_and_stars() -> None:
    assert normalize("5-Sterne!!!  Bewertung") == " 5 sterne bewertung "
    assert normalize("10 % Rabatt – jetzt") == " 10 % rabatt jetzt "
    assert normalize("★★★★★") == " ★★★★★ "
    assert normalize("FÜNF STERNE") == " fünf sterne "


def test_base64_and_quoted_printable_bodies_are_decoded() -> None:
    qp = read_message(message("x", "Grüße, Gutscheincode SPAR5", cte="qp"))
    b64 = read_message(message("x", "Grüße, Gutscheincode SPAR5", cte="base64"))
    assert b"Gutscheincode" not in message("x", "Grüße, Gutscheincode SPAR5", cte="base64")
    assert "Gutscheincode SPAR5" in qp.plain_text
    assert "Gutscheincode SPAR5" in b64.plain_text


def test_rfc2047_subject_and_8bit_header_are_decoded() -> None:
    content = read_message(message("Liefertermin für Ihre Bestellung", "x"))
    assert content.subject == "Liefertermin für Ihre Bestellung"
    raw = "Subject: Rückfrage zur Gravur\r\nTo: a@marketplace.amazon.de\r\n\r\nHallo\r\n".encode()
    assert read_message(raw).subject == "Rückfrage zur Gravur"


def test_html_text_links_and_images_come_from_a_real_parser() -> None:
    html = (
        '<p>Ihre Bestellung finden Sie <a href="https://www.mein-shop.example/konto">auf amazon.de</a>.</p>'
        '<script>var hidden = "Rabatt";</script>'
        '<a href="https://shop.example/"><img src="cid:logo" width="120"></a>'
        '<img src="https://t.example/p.gif?u=1" width="1" height="1">'
    )
    content = read_message(message("x", "plain", html=html))
    assert "auf amazon.de" in content.html_text
    assert "Rabatt" not in content.html_text  # script content is not text the buyer sees
    hosts = [link.host for link in content.links]
    assert "www.mein-shop.example" in hosts
    logo = next(i for i in content.images if i.src == "cid:logo")
    assert logo.linked_to == "https://shop.example/"
    assert not logo.remote
    pixel = next(i for i in content.images if i.remote)
    assert (pixel.width, pixel.height, pixel.host) == (1, 1, "t.example")


def test_nested_multiparts_are_walked_to_every_leaf() -> None:
    from email.mime.multipart import MIMEMultipart

    inner = MIMEMultipart("alternative")
    inner.attach(text_part("inner plain text"))
    inner.attach(text_part("<p>inner html text</p>", "html"))
    related = MIMEMultipart("related")
    related.attach(inner)
    mixed = MIMEMultipart("mixed")
    mixed.attach(related)
    mixed.attach(attachment("Rechnung.pdf", PDF, "application/pdf"))
    mixed["Subject"] = "nested"
    content = read_message(mixed.as_bytes())
    assert "inner plain text" in content.plain_text
    assert "inner html text" in content.html_text
    assert [(a.filename, a.kind, a.size) for a in content.attachments] == [("Rechnung.pdf", "pdf", len(PDF))]


def test_attachment_type_is_sniffed_from_content_when_the_name_lies() -> None:
    zip_bytes = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 40
    exe_bytes = b"MZ\x90\x00" + b"\x00" * 60
    assert classify_attachment("Rechnung.pdf", "application/pdf", zip_bytes).kind == "archive"
    assert classify_attachment("notes.txt", "text/plain", exe_bytes).kind == "executable"
    assert classify_attachment("foto.jpg", "image/jpeg", PDF).kind == "pdf"
    assert classify_attachment("scan.bin", "application/octet-stream", PNG).kind == "image"
    assert classify_attachment("hinweis.txt", "text/plain", "Größe: 42 cm".encode()).kind == "text"
    # A harmless content under a dangerous name is still dangerous on the buyer's machine.
    assert classify_attachment("setup.js", "text/plain", b"alert(1)").kind == "script"


def test_attachment_size_is_the_decoded_size() -> None:
    data = bytes(range(256)) * 40
    content = read_message(message("x", "y", attachments=(attachment("a.bin", data),)))
    assert content.attachments[0].size == len(data)
    assert len(base64.b64encode(data)) > len(data)


def test_text_links_find_urls_and_bare_domains_but_not_emails_or_abbreviations() -> None:
    found = {
        link.host
        for link in text_links(
            "Siehe https://www.dhl.de/verfolgen?x=1, z.B. www.mein-shop.de oder mein\u200bshop.com/a. "
            "Mail: info@shop.de, Version 1.5, Datei rechnung.pdf."
        )
    }
    assert found == {"www.dhl.de", "www.mein-shop.de", "meinshop.com"}


def test_quoted_text_is_separated_from_the_sellers_own_text() -> None:
    text = (
        "Ja, das passt.\n\nAm 23.11.2026 um 10:00 schrieb Käufer <x@marketplace.amazon.de>:\n"
        "> Gebe 5 Sterne!\n"
    )
    assert strip_quoted(text).strip() == "Ja, das passt."
    outlook = ("Gern.\n\nVon: Käufer - Amazon Marketplace <x@marketplace.amazon.de>\nGesendet: Montag\n"
               "Betreff: Frage\nWhatsApp?")
    assert strip_quoted(outlook).strip() == "Gern."
    # A "quote" of someone else than the buyer is the seller's text.
    own_quote = "Gern.\n\nVon: service@mein-shop.example\nGesendet: Montag\nBetreff: Frage\nWhatsApp?"
    assert "WhatsApp?" in strip_quoted(own_quote)
    html = ('<div>Danke</div><div class="gmail_quote"><div class="gmail_attr">Am Mo. schrieb Max '
            '&lt;x@marketplace.amazon.de&gt;:</div><blockquote>gebe 5 Sterne</blockquote></div>'
            '<blockquote>SPAR10 Rabattcode</blockquote>')
    content = read_message(message("x", "", html=html))
    assert "5 Sterne" in content.html_text
    assert "5 Sterne" not in content.html_own_text
    assert "Danke" in content.html_own_text
    assert "SPAR10" in content.html_own_text


def test_unknown_and_wrong_charsets_fall_back_instead_of_failing() -> None:
    raw = (
        b"Subject: =?x-unknown?Q?Gr=FC=DFe?=\r\nContent-Type: text/plain; charset=x-nonsense\r\n\r\n"
        b"Gr\xfc\xdfe aus K\xf6ln\r\n"
    )
    content = read_message(raw)
    assert "Köln" in content.plain_text  # cp1252 fallback
    raw2 = b"Content-Type: text/plain; charset=zlib_codec\r\n\r\nplain words\r\n"
    assert "plain words" in read_message(raw2).plain_text


def test_malformed_mime_is_read_as_far_as_possible() -> None:
    broken = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nR3V0c2NoZWlu!!!\r\n"
        b"--b\r\nContent-Type: text/html\r\n\r\n<p>unclosed <b>tags\r\n"
    )  # no closing delimiter
    content = read_message(broken)
    assert "Gutschein" in content.plain_text
    assert "unclosed tags" in " ".join(content.html_text.split())
    no_boundary = b"Content-Type: multipart/mixed\r\n\r\nnur Text\r\n"
    assert "nur Text" in read_message(no_boundary).plain_text
    assert read_message(no_boundary).problems


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000))
def test_read_message_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    content = read_message(raw)
    assert isinstance(content.plain_text, str)


@settings(max_examples=80, deadline=None)
@given(
    st.text(max_size=400),
    st.sampled_from(["7bit", "base64", "quoted-printable", "x-junk"]),
    st.sampled_from(["utf-8", "latin-1", "nonsense", "utf-16"]),
)
def test_read_message_never_raises_on_odd_parts(body: str, cte: str, charset: str) -> None:
    raw = (
        (
            "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
            f"Content-Type: text/html; charset={charset}\r\n"
            f"Content-Transfer-Encoding: {cte}\r\n\r\n"
        ).encode()
        + body.encode("utf-8", "surrogatepass")
        + b"\r\n--zz--"
    )
    read_message(raw)


def test_nul_bytes_and_huge_headers_do_not_break_reading() -> None:
    raw = b"Subject: " + b"A" * 200_000 + b"\r\nX-Junk: \x00\x00\r\n\r\nText mit \x00 NUL\r\n"
    content = read_message(raw)
    assert content.subject.startswith("AAAA")
    assert "NUL" in content.plain_text


def test_header_block_parsing_unfolds_and_skips_junk_lines() -> None:
    from gateway.policy.content import parse_headers

    msg = parse_headers(
        b"From foo@bar Mon Nov 23\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n  aus Berlin\r\n"
        b"Content-Type: text/plain;\r\n\tcharset=utf-8\r\nX-8bit: K\xc3\xb6ln\r\n"
    )
    assert read_message(b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n  aus Berlin\r\n\r\nx").subject == (
        "Grüße  aus Berlin"
    )
    assert msg.get_content_charset() == "utf-8"
    assert "From foo@bar Mon Nov 23" not in msg
    assert set(msg.keys()) == {"Subject", "Content-Type", "X-8bit"}


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 12), st.sampled_from(["\u200b", "\u00ad", "\u200d", "\ufeff", "\u2060"])),
        max_size=6,
    )
)
def test_invisible_characters_anywhere_in_a_word_do_not_hide_it(inserts: list[tuple[int, str]]) -> None:
    word = list("Gutscheincode")
    for pos, ch in sorted(inserts, reverse=True):
        word.insert(pos, ch)
    assert normalize("".join(word)) == " gutscheincode "


def test_text_split_across_inline_tags_reads_as_one_word() -> None:
    html = ("<p>Ihr Ra<b></b>batt<span>code</span>: <i>S</i>PAR10</p><p>Zweiter Absatz</p>"
            "<table><tr><td>5</td><td>Sterne</td></tr></table>")
    content = read_message(message("x", "", html=html))
    assert "Rabattcode" in content.html_text
    assert "SPAR10" in content.html_text
    assert "Zweiter Absatz" in content.html_text.split("Rabattcode", 1)[1]
    assert "5Sterne" not in content.html_text  # table cells stay apart


def test_deeply_nested_html_is_cut_with_a_clear_problem_and_quickly() -> None:
    import time

    html = "<div>" * 100_000 + "Rabatt" + "</div>" * 100_000
    start = time.process_time()
    content = read_message(message("x", "", html=html))
    assert time.process_time() - start < 5  # the unbounded parse took 25 s and more
    assert content.truncated
    assert any("nested deeper" in p for p in content.problems)
    ordinary = read_message(message("x", "", html="<div>" * 60 + "Hallo" + "</div>" * 60))
    assert not ordinary.truncated


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x2FF) | st.sampled_from("€„“”‘’–—…•™ßẞ\u00ad\u200bАа")))
def test_fast_folding_agrees_with_the_general_one(text: str) -> None:
    from gateway.policy.content import _fold_any, fold

    assert fold(text) == _fold_any(text)
