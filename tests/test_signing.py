"""DKIM signing: what the gateway signs verifies against the record `gateway dkim` prints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dkim
import pytest

from gateway.signing import DkimError, DkimKey, DkimSigner, dns_record, from_domain, generate_key, load_key

MESSAGE = (b"From: Shop Team <orders@shop.example>\r\nTo: abc@marketplace.amazon.de\r\n"
           b"Subject: [Wichtig] Liefertermin\r\nDate: Tue, 01 Dec 2026 10:00:00 +0100\r\n"
           b"Message-ID: <m1@shop.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"\r\nGuten Tag,\r\nwann passt Ihnen die Lieferung?\r\n")


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    return generate_key(1024)  # small keeps the module fast; 2048 is the CLI's default


def key_file(tmp_path: Path, pem: bytes, name: str = "k.pem") -> Path:
    path = tmp_path / name
    path.write_bytes(pem)
    return path


def dns_for(*keys: DkimKey):  # type: ignore[no-untyped-def]
    records = {f"{n}.".encode(): v.encode() for n, v in (dns_record(k) for k in keys)}

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name)
    return lookup


def test_signed_message_verifies(tmp_path: Path, key_pem: bytes) -> None:
    key = load_key("shop.example", "s1", key_file(tmp_path, key_pem))
    signed = DkimSigner([key]).sign(MESSAGE)
    assert signed.domain == "shop.example"
    assert signed.raw.startswith(b"DKIM-Signature:")
    assert signed.raw.endswith(MESSAGE)
    assert dkim.verify(signed.raw, dnsfunc=dns_for(key), minkey=1024)
    tampered = signed.raw.replace(b"Liefertermin", b"Lieferterm1n")
    assert not dkim.verify(tampered, dnsfunc=dns_for(key), minkey=1024)


def test_an_own_domain_signature_made_before_the_gateway_is_replaced(tmp_path: Path, key_pem: bytes) -> None:
    seller_key = load_key("shop.example", "erp", key_file(tmp_path, generate_key(1024), "erp.pem"))
    esp_key = load_key("esp.example", "esp", key_file(tmp_path, generate_key(1024), "esp.pem"))
    original = DkimSigner([esp_key]).sign(DkimSigner([seller_key]).sign(MESSAGE).raw.replace(
        b"From: Shop Team <orders@shop.example>", b"From: Shop Team <orders@esp.example>")).raw
    # Back to the seller's From: now it has a seller signature (d=shop.example) and an ESP one.
    original = original.replace(b"orders@esp.example", b"orders@shop.example")
    changed = original.replace(b"Subject: [Wichtig] Liefertermin", b"Subject: [Wichtig] Liefertermin am Montag")
    gateway_key = load_key("shop.example", "smgw", key_file(tmp_path, key_pem))
    signed = DkimSigner([gateway_key]).sign(changed)
    assert signed.replaced == 1
    assert signed.raw.count(b"DKIM-Signature:") == 2  # ours, and the other domain's left alone
    assert b"d=esp.example" in signed.raw and b"s=erp" not in signed.raw
    assert dkim.verify(signed.raw, dnsfunc=dns_for(gateway_key, esp_key), minkey=1024)
    assert signed.raw.split(b"\r\n\r\n", 1)[1] == MESSAGE.split(b"\r\n\r\n", 1)[1]


def test_a_parent_domain_key_signs_a_subdomain_sender(tmp_path: Path, key_pem: bytes) -> None:
    key = load_key("shop.example", "s1", key_file(tmp_path, key_pem))
    sub = MESSAGE.replace(b"orders@shop.example", b"orders@mail.shop.example")
    signer = DkimSigner([key])
    assert signer.sign(sub).domain == "shop.example"
    assert signer.sign(sub.replace(b"mail.shop.example", b"othershop.example")).domain is None


def test_no_key_for_the_sender_leaves_the_bytes_alone(tmp_path: Path, key_pem: bytes) -> None:
    key = load_key("other.example", "s1", key_file(tmp_path, key_pem))
    assert DkimSigner([key]).sign(MESSAGE).raw is MESSAGE
    assert DkimSigner([key]).sign(b"Subject: no from\r\n\r\nbody\r\n").domain is None


def test_lf_only_messages_are_signed_with_their_own_line_ends(tmp_path: Path, key_pem: bytes) -> None:
    key = load_key("shop.example", "s1", key_file(tmp_path, key_pem))
    lf = MESSAGE.replace(b"\r\n", b"\n")
    signed = DkimSigner([key]).sign(lf).raw
    assert b"\r" not in signed
    assert dkim.verify(signed.replace(b"\n", b"\r\n"), dnsfunc=dns_for(key), minkey=1024)


def test_from_domain_reads_folded_and_encoded_from_fields() -> None:
    assert from_domain(b"From: =?utf-8?q?M=C3=B6bel?=\r\n <Info@Shop.Example>\r\n\r\n") == "shop.example"
    assert from_domain(b"To: a@b.example\r\n\r\n") is None


def test_unusable_key_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(DkimError, match="cannot read"):
        load_key("shop.example", "s1", tmp_path / "missing.pem")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(DkimError, match=r"bad\.pem is not an unencrypted PEM"):
        load_key("shop.example", "s1", bad)


def test_cli_keygen_prints_the_record_that_verifies(tmp_path: Path) -> None:
    out = tmp_path / "shop.pem"
    cmd = [sys.executable, "-m", "gateway", "dkim", "keygen", "--domain", "shop.example", "--selector", "s2",
           "--bits", "1024", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    line = done.stdout.strip()
    assert line.startswith("s2._domainkey.shop.example. IN TXT (")
    value = "".join(part for part in line.split('"')[1::2])
    key = load_key("shop.example", "s2", out)
    assert value == dns_record(key)[1]
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 2 and "not overwriting" in again.stderr


def test_config_keys_are_resolved_and_loaded(tmp_path: Path, key_pem: bytes) -> None:
    from gateway.config import ConfigError, load_config

    key_file(tmp_path, key_pem, "shop.pem")
    config = tmp_path / "gateway.toml"
    config.write_text('[[dkim.keys]]\ndomain = "shop.example"\nselector = "s1"\nkey_file = "shop.pem"\n')
    signer = DkimSigner.from_config(load_config(config).dkim)
    assert signer is not None and signer.domains == ("shop.example",)
    config.write_text('[[dkim.keys]]\ndomain = "shop.example"\nselector = "s1"\nkey_file = "gone.pem"\n')
    with pytest.raises(DkimError, match=r"gone\.pem"):
        DkimSigner.from_config(load_config(config).dkim)
    config.write_text('[[dkim.keys]]\ndomain = "a.example"\nselector = "s1"\nkey_file = "x"\n'
                      '[[dkim.keys]]\ndomain = "A.example"\nselector = "s2"\nkey_file = "y"\n')
    with pytest.raises(ConfigError, match=r"two keys for a\.example"):
        load_config(config)
    assert DkimSigner.from_config(load_config(None).dkim) is None
