from __future__ import annotations

from gateway.classify import Classifier
from gateway.config import DEFAULT_MARKETPLACE_TLDS

classifier = Classifier(DEFAULT_MARKETPLACE_TLDS)


def test_plain_alias() -> None:
    r = classifier.classify("3vqmzxk4lhl9w1b@marketplace.amazon.de")
    assert r is not None
    assert (r.alias, r.marketplace, r.token) == ("3vqmzxk4lhl9w1b@marketplace.amazon.de", "de", None)


def test_thread_token_form_keeps_the_alias() -> None:
    r = classifier.classify("3VQMZXK4LHL9W1B+A1B2C3@Marketplace.Amazon.co.uk")
    assert r is not None
    assert r.alias == "3vqmzxk4lhl9w1b@marketplace.amazon.co.uk"
    assert r.token == "A1B2C3"
    assert r.marketplace == "co.uk"


def test_multi_label_tlds() -> None:
    for tld in ("com.mx", "co.jp", "com.au", "com.be", "com.tr"):
        r = classifier.classify(f"abc@marketplace.amazon.{tld}")
        assert r is not None and r.marketplace == tld


def test_not_marketplace() -> None:
    assert classifier.classify("buyer@example.com") is None
    assert classifier.classify("abc@amazon.de") is None
    assert classifier.classify("abc@marketplace.amazon.xx") is None
    assert classifier.classify("abc@sub.marketplace.amazon.de") is None
    assert classifier.classify("no-at-sign") is None


def test_configurable_tlds() -> None:
    only_de = Classifier(["de"])
    assert only_de.classify("a@marketplace.amazon.com") is None
    assert len(only_de.marketplace_recipients(["a@marketplace.amazon.de", "x@y.z"])) == 1
