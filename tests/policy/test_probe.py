"""Failure classes found by the session-3 probe (tests/corpus/probe): fresh seller mail written as
ERPs write it, run before the packs were tuned. Each test states the mechanism, not a message."""

from __future__ import annotations

import datetime

import pytest

from gateway.policy.engine import PolicyEngine
from tests.policy.mail import ALIAS_DE, message, recipients

ALIAS_IT = "n2kd8vxq4tz7rbp@marketplace.amazon.it"
ALIAS_FR = "q9bv3kd7zx2mtnc@marketplace.amazon.fr"
ALIAS_SE = "x7mq2kd9vb3ztnp@marketplace.amazon.se"


def _rules(engine: PolicyEngine, subject: str, body: str, to: str = ALIAS_DE) -> set[str]:
    verdict = engine.evaluate(message(subject, body, to=to), recipients(to))
    return {h.rule for h in verdict.hits}


@pytest.mark.parametrize(("to", "sentence"), [
    (ALIAS_DE, "Die Zustellung erfolgt voraussichtlich am Dienstag, {d} zwischen 8 und 12 Uhr."),
    (ALIAS_IT, "La consegna è prevista per il {d} tra le 8 e le 12."),
    (ALIAS_SE, "Leveransen sker den {d} mellan 8 och 12."),
])
@pytest.mark.parametrize("fmt", ["%d.%m.%Y", "%d-%m-%Y", "%d/%m/%Y", "%Y-%m-%d"])
def test_calendar_dates_are_not_phone_numbers(engine: PolicyEngine, to: str, sentence: str, fmt: str) -> None:
    """A day with a leading zero ("04.12.2026") parses as a German or Italian number with an area
    code; on main one German delivery date in five refused the message."""
    order = "302-4817265-9034712"
    day = datetime.date(2026, 1, 2)
    refused = []
    while day.year == 2026:
        text = sentence.format(d=day.strftime(fmt))
        if "seller-phone-number" in _rules(engine, f"Bestellung {order}", f"{text}\n\nBestellung {order}", to):
            refused.append(text)
        day += datetime.timedelta(days=9)
    assert refused == []


@pytest.mark.parametrize(("to", "body"), [
    (ALIAS_FR, "Appelez-nous au 06.12.20.26.18 pour fixer la livraison."),
    (ALIAS_IT, "Per la consegna ci chiami al 06.12.20.26 entro venerdì."),
    (ALIAS_DE, "Am 04.12.2026 sind wir unter Tel. 0711 40040990 erreichbar."),
])
def test_phone_numbers_written_like_dates_or_next_to_dates_are_still_found(engine: PolicyEngine, to: str,
                                                                            body: str) -> None:
    assert "seller-phone-number" in _rules(engine, "Bestellung 302-4817265-9034712",
                                           f"{body}\n\nBestellung 302-4817265-9034712", to)


@pytest.mark.parametrize("line", [
    "Art.-Nr. 0815-4711-02", "Charge 0412 2026, MHD 04/2028", "Modellnummer 0711 400 409", "Abholcode: 0412 3365",
    "Versicherungsnummer 0412 2026 7788", "Mandatsreferenz 0412-2026-77", "Geräte-Nr. 0412 3365 77",
    "S/N 0123 4567 89", "Ersatzteilnummer 0800 123 456", "Lot 0412 2026 3",
])
@pytest.mark.parametrize("to", [ALIAS_DE, ALIAS_IT])
def test_a_number_whose_label_names_an_id_is_not_a_phone_number(engine: PolicyEngine, line: str, to: str) -> None:
    """German labels are compounds on a word for "number" (-nummer, -nr, -code, -referenz): the
    label names an id, like "Kundennummer" does, whatever the compound's head."""
    order = "302-4817265-9034712"
    body = f"Guten Tag,\n\nanbei die Rechnung zu Ihrer Bestellung {order}.\n\n{line}\n\nMit freundlichen Grüßen"
    assert "seller-phone-number" not in _rules(engine, f"Rechnung {order}", body, to)


@pytest.mark.parametrize("line", [
    "Tel.-Nr. 05241 9876-0", "Telefonnummer: 05241 98760", "Kontakt-Nr.: 05241 9876 0", "Fax-Nr. 05241 9876-99",
    "Mobil-Nr. 0171 2345678", "Kundenservice-Nummer: 05241 98760", "Rückrufnummer 0171 2345678",
])
def test_a_compound_label_on_a_phone_word_still_names_a_phone_number(engine: PolicyEngine, line: str) -> None:
    order = "302-4817265-9034712"
    body = f"Guten Tag,\n\nanbei die Rechnung zu Ihrer Bestellung {order}.\n\n{line}\n\nMit freundlichen Grüßen"
    assert "seller-phone-number" in _rules(engine, f"Rechnung {order}", body)
