"""Every Amazon marketplace's buyer aliases are judged, over SMTP with the shipped rule packs: mail to
an alias at a marketplace the gateway does not know would pass as ordinary mail, unchecked."""

from __future__ import annotations

import aiosmtplib

from gateway.config import DEFAULT_MARKETPLACE_TLDS, MarketplaceConfig, config_from_mapping
from tests.bounces.messages import seller_message
from tests.conftest import GatewayFactory, listener_port
from tests.sink import Sink

ORDER = "302-4817265-9034712"
# Amazon's marketplaces, by the domain of their sites (amazon.<tld>).
MARKETPLACES = ("com", "ca", "com.mx", "com.br", "co.uk", "ie", "de", "fr", "it", "es", "nl", "se", "pl",
                "com.be", "com.tr", "ae", "sa", "eg", "in", "co.jp", "com.au", "sg", "co.za")


def promotion(alias: str) -> bytes:
    return seller_message(
        alias, "20% off your next order",
        f"Hello,\n\nthank you for your order {ORDER}. Use the coupon code SAVE20 for 20% off your next "
        "order in our shop at https://www.my-own-shop.example/deals and leave us a 5-star review!\n\n"
        "Best regards\nYour shop team\n")


def test_every_marketplace_is_checked_by_default_and_may_be_configured() -> None:
    assert set(MarketplaceConfig().tlds) == set(MARKETPLACES)
    assert set(DEFAULT_MARKETPLACE_TLDS) == set(MARKETPLACES)
    cfg = config_from_mapping({"marketplace": {"tlds": ["ie", "co.za"]}})
    assert cfg.marketplace.tlds == ("ie", "co.za")


async def test_promotion_to_an_alias_of_any_marketplace_is_refused(gateway_factory: GatewayFactory,
                                                                   sink: Sink) -> None:
    gw = await gateway_factory(policy="load")
    answers: dict[str, tuple[int, str]] = {}
    for tld in MARKETPLACES:
        alias = f"bcdfghjklmnpqrs@marketplace.amazon.{tld}"
        try:
            await aiosmtplib.send(promotion(alias), sender="orders@shop.example", recipients=[alias],
                                  hostname="127.0.0.1", port=listener_port(gw))
        except aiosmtplib.SMTPResponseException as refused:
            answers[tld] = (refused.code, refused.message.lower())
        else:
            answers[tld] = (250, "relayed")
    passed = [tld for tld, (code, _text) in answers.items() if code != 550]
    assert passed == []
    assert all("coupon" in text or "promotion" in text for _code, text in answers.values()), answers
    assert sink.handler.messages == []
