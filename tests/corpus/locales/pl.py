"""Polish (amazon.pl): templates of Polish sellers (BaseLinker-, Shoper- and JTL-style)."""

from __future__ import annotations

from tests.corpus.model import Carrier, Locale, Shop, Variant

MONTHS = ("stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca", "sierpnia", "września",
          "października", "listopada", "grudnia")


def money(x: float) -> str:
    whole, frac = f"{x:,.2f}".split(".")
    return f"{whole.replace(',', ' ')},{frac} zł"


def date(y: int, m: int, d: int) -> str:
    return f"{d} {MONTHS[m - 1]} {y} r."


SHOPS = (
    Shop("Stolarnia Nowak", "stolarnia-nowak.pl", "zamowienia",
         ("Stolarnia Nowak Sp. z o.o. · ul. Przemysłowa 12 · 61-579 Poznań",
          "Sąd Rejonowy Poznań – Nowe Miasto i Wilda, VIII Wydział Gospodarczy KRS 0000412345",
          "NIP 782-25-61-330 · REGON 302145678 · Kapitał zakładowy 50 000 zł · BDO 000123456"),
         ("Tel. 61 850 12 34 · zamowienia@stolarnia-nowak.pl · www.stolarnia-nowak.pl",),
         "JTL-Wawi", "Zespół Stolarni Nowak"),
    Shop("Rowerowy Świat", "rowerowyswiat.pl", "sklep",
         ("Rowerowy Świat Katarzyna Wiśniewska · ul. Długa 44 · 31-146 Kraków",
          "NIP 676-198-44-21 · REGON 122334455"),
         ("Zadzwoń: 12 421 88 90 · sklep@rowerowyswiat.pl",),
         "Billbee", "Katarzyna Wiśniewska"),
    Shop("Ogród i Dom", "ogrodidom.pl", "obsluga",
         ("Ogród i Dom S.A. · Al. Jerozolimskie 181 · 02-222 Warszawa",
          "KRS 0000654321 · NIP 5272765432 · REGON 365432109 · Kapitał zakładowy 1 000 000 zł opłacony w całości"),
         ("Infolinia 22 333 44 55 · obsluga@ogrodidom.pl",),
         "Plentymarkets", "Biuro Obsługi Klienta Ogród i Dom"),
)

PRODUCTS = (
    ("Deska do krojenia dąb 40 x 25 cm", 159.00), ("Obrus lniany 140 x 240 cm, szałwia", 229.00),
    ("Łańcuch rowerowy 11-rzędowy 116 ogniw", 119.00), ("Klocki hamulcowe organiczne (2 pary)", 69.00),
    ("Donica ceramiczna 50 cm", 149.00), ("Sekator ogrodowy profesjonalny", 89.99),
    ("Ładowarka USB-C 65 W", 139.00), ("Szafa sosnowa 3-drzwiowa", 2490.00),
)
HARD = (("Poduszka hotelowa 5 gwiazdek 70 x 80 cm", 159.00), ("Kołdra „Pięć Gwiazdek” 200 x 220 cm", 399.00))

ADDRESSES = (("ul. Marszałkowska 84/92 m. 17", "00-514", "Warszawa"), ("ul. Floriańska 15", "31-019", "Kraków"),
             ("ul. Piotrkowska 120", "90-006", "Łódź"), ("ul. Świdnicka 3/5", "50-066", "Wrocław"),
             ("ul. Długa 22", "80-827", "Gdańsk"))

CARRIERS = (
    Carrier("InPost", "https://inpost.pl/sledzenie-przesylek?number={tn}", "999999999999999999999999"),
    Carrier("DPD", "https://tracktrace.dpd.com.pl/parcelDetails?typ=1&p1={tn}", "9999999999999A"),
    Carrier("Poczta Polska", "https://emonitoring.poczta-polska.pl/?numer={tn}", "00659999999999999999"),
)

TEXTS: dict[str, tuple[Variant, ...]] = {
    "invoice": (
        Variant("Faktura {invoice_no} do zamówienia Amazon {order}", (
            "dziękujemy za zakupy w {shop}. W załączniku przesyłamy fakturę VAT {invoice_no} do zamówienia "
            "Amazon {order} w formacie PDF.",
            "[table]",
            "Faktura zawiera wyszczególniony podatek VAT i może posłużyć do celów księgowych.",
        )),
        Variant("Faktura do zamówienia {order}", (
            "zgodnie z prośbą przesyłamy fakturę do zamówienia {order} z dnia {date}.",
            "[table]",
            "[address]",
            "Prosimy zachować fakturę – jest ona również dowodem zakupu do celów gwarancyjnych.",
        )),
    ),
    "return": (
        Variant("Zwrot do zamówienia {order}", (
            "Twój zwrot dotarł dziś do nas i został sprawdzony. Towar jest w idealnym stanie, dlatego zleciliśmy "
            "zwrot {amount} przez Amazon.",
            "W zależności od metody płatności środki pojawią się na koncie w ciągu 3–5 dni roboczych.",
        )),
        Variant("Etykieta zwrotna – zamówienie {order}", (
            "zgłosiłeś zwrot produktu „{product}” z zamówienia {order}. W załączniku znajdziesz opłaconą etykietę "
            "zwrotną {carrier}; wydrukuj ją i naklej na paczkę.",
        )),
    ),
    "review-request": (
        Variant("Twoja opinia o zamówieniu {order}", (
            "Twoje zamówienie {order} powinno już do Ciebie dotrzeć.",
            "Jeśli masz chwilę, będzie nam miło, jeśli podzielisz się wrażeniami o produkcie w recenzji na Amazon. "
            "Opinie pomagają innym klientom w wyborze.",
        )),
    ),
    "delivery-scheduling": (
        Variant("Termin dostawy zamówienia {order}", (
            "Twoje zamówienie {order} („{product}”) zostanie dostarczone przez firmę spedycyjną na palecie, dlatego "
            "musimy uzgodnić z Tobą termin dostawy.",
            "Kurier może przyjechać {date} lub {date2} w godzinach 8–16. Daj nam znać, który dzień Ci odpowiada i "
            "czy ktoś będzie w domu.",
        )),
        Variant("Umówienie dostawy – zamówienie {order}", (
            "do doręczenia zamówienia {order} potrzebujemy umówić okno czasowe. Przesyłka waży ok. 90 kg.",
            "Możliwe terminy: {date} rano lub {date2} po południu. Który termin wybierasz?",
        )),
    ),
    "customization": (
        Variant("Grawer do zamówienia {order}", (
            "dziękujemy za zamówienie {order}. Zanim wygrawerujemy „{product}”, chcemy potwierdzić z Tobą tekst.",
            "Podany tekst graweru: „{engraving}”. Prosimy o potwierdzenie pisowni lub informację o zmianie. "
            "Produkcję rozpoczniemy dopiero po Twojej akceptacji.",
        )),
    ),
    "address-problem": (
        Variant("Adres dostawy zamówienia {order}", (
            "przygotowując zamówienie {order} zauważyliśmy, że w adresie dostawy brakuje numeru domu:",
            "[address]",
            "Prosimy o podanie pełnego adresu, aby paczka mogła zostać doręczona.",
        )),
        Variant("Zamówienie {order}: kod pocztowy się nie zgadza", (
            "zamówienie {order} ma zostać wysłane na adres:",
            "[address]",
            "Kod pocztowy {postcode} nie pasuje jednak do miejscowości {city}. Prosimy o sprawdzenie danych.",
        )),
    ),
    "order-problem": (
        Variant("Opóźnienie zamówienia {order}", (
            "niestety wysyłka zamówienia {order} się opóźni, ponieważ dostawca później dostarczy „{product}”. "
            "Planujemy wysyłkę {date}. Jeśli wolisz anulować zamówienie, odpowiedz na tę wiadomość.",
        )),
    ),
    "order-confirmation": (
        Variant("Potwierdzenie zamówienia {order}", (
            "dziękujemy za zamówienie! Potwierdzamy przyjęcie zamówienia {order} z dnia {date}.",
            "[table]",
            "[address]",
        )),
    ),
    "shipping-confirmation": (
        Variant("Twoje zamówienie {order} zostało wysłane", (
            "dobra wiadomość: zamówienie {order} opuściło dziś nasz magazyn i zostało przekazane firmie {carrier}.",
            "[table]",
            "Śledź przesyłkę: [tracking]",
        )),
    ),
    "thank-you": (
        Variant("Dziękujemy za zakupy!", (
            "serdecznie dziękujemy za zamówienie {order} i zaufanie do {shop}.",
            "Życzymy wiele radości z zakupu. W razie pytań lub problemów prosimy o kontakt.",
        )),
    ),
    "out-of-stock": (
        Variant("Zamówienie {order}: produkt chwilowo niedostępny", (
            "niestety produkt „{product}” z zamówienia {order} jest obecnie niedostępny. Dostawca zapowiada "
            "kolejną dostawę na {date}; wyślemy zamówienie zaraz po jej otrzymaniu.",
        )),
    ),
    "promotion": (
        Variant("Tylko w tym tygodniu: 20% rabatu na wszystko", (
            "jako klient {shop} (zamówienie {order}) otrzymujesz do niedzieli 20% rabatu z kodem {code}.",
        )),
    ),
}

SNIPPETS: dict[str, tuple[str, ...]] = {
    "coupon": ("W podziękowaniu otrzymujesz 10% rabatu na kolejne zamówienie z kodem rabatowym {code}.",),
    "shop-link": ("Zapraszamy też do naszego sklepu internetowego: https://www.{domain}/",),
    "seller-phone": ("W razie pytań zadzwoń do nas: 61 850 12 34.",),
    "seller-email": ("Napisz do nas na adres sklep@{domain}.",),
    "messenger": ("Szybką odpowiedź otrzymasz na WhatsAppie: 601 234 567.",),
    "review-positive": ("Będziemy bardzo wdzięczni za pozytywną opinię i 5 gwiazdek na Amazon!",),
    "review-incentive": ("Za napisanie recenzji otrzymasz od nas kartę podarunkową o wartości 50 zł.",),
    "emoji": ("Miłego użytkowania! 😊",),
    "contact-request": ("Prosimy o podanie numeru telefonu, aby kurier mógł się z Tobą skontaktować.",),
    "manufacturer-hotline": ("W sprawach technicznych i gwarancyjnych prosimy o kontakt z serwisem producenta: "
                             "infolinia producenta 800 123 456 (bezpłatna).",),
}

QUESTIONS = (
    ("Dzień dobry, czy łańcuch pasuje do grupy Shimano 105?",
     "tak, łańcuch pasuje do wszystkich 11-rzędowych grup Shimano, także do 105. Spinka jest w zestawie."),
    ("Czy obrus można prać w 60 stopniach?",
     "zalecamy pranie w 40 stopniach: w 60 stopniach len może się skurczyć nawet o 5%."),
)

LOCALE = Locale(
    lang="pl", tag="pl-PL", marketplace="pl", order_prefixes=("402", "403", "404", "405", "406", "407"),
    money=money, vat_rate=0.23, vat_label="w tym VAT {rate}%: {amount}",
    words={"order": "Numer zamówienia", "invoice": "Faktura", "pos": "Lp.", "item": "Nazwa towaru",
           "sku": "Symbol", "qty": "Ilość", "price": "Cena brutto", "sum": "Wartość", "subtotal": "Suma częściowa",
           "shipping": "Dostawa", "total": "Razem do zapłaty", "ship_to": "Adres dostawy",
           "attachment": "Faktura", "tracking": "Śledź przesyłkę", "ean": "EAN", "country": "Polska",
           "terms": "Regulamin", "label": "Etykieta_zwrotna", "proof": "Projekt", "from": "Od",
           "question_subject": "Twoje pytanie dotyczące zamówienia", "unsubscribe": "Wypisz się",
           "engraving": "Dla Babci Zosi – 80 lat"},
    salutations=("Dzień dobry,", "Szanowna Pani {last},", "Dzień dobry {first},", "Witaj {first},",
                 "Szanowni Państwo,"),
    buyers=(("Pani", "Agnieszka", "Kowalska"), ("Pan", "Tomasz", "Wójcik"), ("Pani", "Małgorzata", "Zielińska"),
            ("Pan", "Paweł", "Szymański"), ("Pani", "Joanna", "Dąbrowska")),
    closings=("Z poważaniem", "Pozdrawiamy serdecznie", "Z wyrazami szacunku", "Pozdrawiamy"),
    shops=SHOPS, products=PRODUCTS, addresses=ADDRESSES, carriers=CARRIERS, date=date,
    texts=TEXTS, snippets=SNIPPETS, charsets=("utf-8", "iso-8859-2", "windows-1250"),
    questions=QUESTIONS, quote_header="-----Wiadomość oryginalna-----", reply_prefix="Odp:", keyword=None,
    hard_products=HARD,
)
