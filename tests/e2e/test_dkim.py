"""DKIM over SMTP: what the upstream receives from the gateway verifies, after a subject rewrite too."""

from __future__ import annotations

from pathlib import Path

import aiosmtplib
import dkim
import pytest

from gateway.signing import dns_record, generate_key, load_key
from tests.conftest import GatewayFactory, listener_port
from tests.sink import Sink

CRITICAL = ("From: Moebel Beispiel <versand@moebel-beispiel.de>\r\nTo: k4m9x2b7q1w3e5r@marketplace.amazon.de\r\n"
            "Subject: Ihre Bestellung 302-4817265-9034712\r\nMessage-ID: <dkim-1@moebel-beispiel.de>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "Guten Tag,\r\nfür Ihre Bestellung 302-4817265-9034712 möchten wir den Liefertermin mit Ihnen abstimmen. "
            "Welcher Tag passt Ihnen nächste Woche für die Lieferung durch die Spedition?\r\n"
            "Mit freundlichen Grüßen\r\nIhr Versandteam\r\n").encode()


async def test_relayed_mail_is_signed_and_verifies_after_the_rewrite(gateway_factory: GatewayFactory, sink: Sink,
                                                                     tmp_path: Path) -> None:
    key_file = tmp_path / "moebel.pem"
    key_file.write_bytes(generate_key(1024))
    key = load_key("moebel-beispiel.de", "smgw", key_file)
    # The seller's own system signed before the gateway; the rewrite will break that signature.
    erp_key_file = tmp_path / "erp.pem"
    erp_key_file.write_bytes(generate_key(1024))
    erp_key = load_key("moebel-beispiel.de", "erp", erp_key_file)
    pre_signed = dkim.sign(CRITICAL, b"erp", b"moebel-beispiel.de", erp_key.private_key) + CRITICAL
    gw = await gateway_factory(policy="load", dkim={"keys": [{"domain": "moebel-beispiel.de", "selector": "smgw",
                                                "key_file": str(key_file)}]})
    await aiosmtplib.send(pre_signed, sender="versand@moebel-beispiel.de",
                          recipients=["k4m9x2b7q1w3e5r@marketplace.amazon.de"], hostname="127.0.0.1",
                          port=listener_port(gw), timeout=30)
    [received] = await sink.handler.wait_for(1)
    data = received.data
    assert b"Subject: [Wichtig]" in data  # rewritten: the seller's signature could not survive that
    assert data.count(b"DKIM-Signature:") == 1 and b"s=smgw" in data and b"s=erp" not in data
    records = {f"{name}.".encode(): value.encode() for name, value in (dns_record(key), dns_record(erp_key))}
    assert dkim.verify(data, dnsfunc=lambda name, timeout=5: records.get(name), minkey=1024)


async def test_a_template_with_pixel_and_linked_logo_is_repaired_signed_and_relayed(
        gateway_factory: GatewayFactory, sink: Sink, tmp_path: Path) -> None:
    from tests.test_repair import HTML, LOGO, PDF, PLAIN, invoice, parts

    key_file = tmp_path / "moebel.pem"
    key_file.write_bytes(generate_key(1024))
    key = load_key("moebel-beispiel.de", "smgw", key_file)
    gw = await gateway_factory(policy="load", dkim={"keys": [{"domain": "moebel-beispiel.de", "selector": "smgw",
                                                               "key_file": str(key_file)}]})
    # The template's own faults only: a linked logo, a tracking pixel, a remote banner, an emoji.
    html = HTML.split('<p>Web:')[0] + "</body></html>\n"
    plain = PLAIN.split("--\n")[0]
    raw = invoice(html=html, plain=plain)
    await aiosmtplib.send(raw, sender="buchhaltung@moebel-beispiel.de", recipients=["abc123@marketplace.amazon.de"],
                          hostname="127.0.0.1", port=listener_port(gw), timeout=30)
    [received] = await sink.handler.wait_for(1)
    data = received.data
    out = parts(data)
    html = out["text/html"].get_content()
    assert "track.mailer.example" not in html and "utm_source" not in html and 'src="cid:logo@shop"' in html
    assert "Frau Schneider" in html and "Mit freundlichen Grüßen" in html and "😊" not in html
    assert out["application/pdf"].get_content() == PDF and out["image/png"].get_content() == LOGO
    assert b"X-Gateway-Repaired: " in data
    records = {f"{name}.".encode(): value.encode() for name, value in (dns_record(key),)}
    assert dkim.verify(data, dnsfunc=lambda name, timeout=5: records.get(name), minkey=1024)
    decisions = await gw.store.decisions() if gw.store is not None else []
    assert decisions and {"tracking-pixel", "logo-link"} <= set(decisions[0].rules)


async def test_a_promotion_is_still_refused_after_its_template_is_repaired(gateway_factory: GatewayFactory,
                                                                            sink: Sink) -> None:
    from tests.test_repair import HTML, PLAIN, invoice

    gw = await gateway_factory(policy="load")
    template = invoice(html=HTML.split("<p>Web:")[0] + "</body></html>\n", plain=PLAIN.split("--\n")[0])
    promo = template.replace(b"anbei die Rechnung zu Ihrer Bestellung",
                             b"mit dem Gutscheincode WINTER20 erhalten Sie 20 % Rabatt auf Ihre n=C3=A4chste "
                             b"Bestellung. Anbei die Rechnung zu Ihrer Bestellung")
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await aiosmtplib.send(promo, sender="buchhaltung@moebel-beispiel.de",
                              recipients=["abc123@marketplace.amazon.de"], hostname="127.0.0.1",
                              port=listener_port(gw), timeout=30)
    assert refused.value.code == 550 and "promotion" in refused.value.message
    assert sink.handler.messages == []
