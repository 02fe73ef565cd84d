"""Swedish (amazon.se): templates of Swedish sellers (Ongoing-, Shopify- and JTL-style)."""

from __future__ import annotations

from tests.corpus.model import Carrier, Locale, Shop, Variant

MONTHS = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
          "november", "december")


def money(x: float) -> str:
    whole, frac = f"{x:,.2f}".split(".")
    return f"{whole.replace(',', ' ')},{frac} kr"


def date(y: int, m: int, d: int) -> str:
    return f"{d} {MONTHS[m - 1]} {y}"


SHOPS = (
    Shop("Snickeri Lindqvist", "snickerilindqvist.se", "order",
         ("Snickeri Lindqvist AB · Verkstadsgatan 5 · 652 21 Karlstad",
          "Org.nr 556812-3456 · Momsreg.nr SE556812345601 · Innehar F-skattsedel"),
         ("Tel 054-12 34 56 · order@snickerilindqvist.se · www.snickerilindqvist.se",),
         "JTL-Wawi", "Snickeri Lindqvist"),
    Shop("Cykeldelar Norr", "cykeldelarnorr.se", "kundtjanst",
         ("Cykeldelar Norr AB · Storgatan 40 · 903 26 Umeå", "Organisationsnummer 559123-4567 · Säte: Umeå"),
         ("Ring oss: 090-77 88 99 · kundtjanst@cykeldelarnorr.se",),
         "Shopify", "Kundtjänst Cykeldelar Norr"),
    Shop("Trädgårdsboden", "tradgardsboden.se", "info",
         ("Trädgårdsboden i Skåne AB · Landsvägen 12 · 262 91 Ängelholm",
          "Org.nr 556701-9988 · VAT SE556701998801"),
         ("Telefon 0431-45 67 00 · info@tradgardsboden.se",),
         "Billbee", "Anna på Trädgårdsboden"),
)

PRODUCTS = (
    ("Skärbräda ek 40 x 25 cm", 449.00), ("Linneduk 140 x 240 cm, salvia", 649.00),
    ("Cykelkedja 11-växlad 116 länkar", 329.00), ("Skivbromsbelägg organiska (2 par)", 189.00),
    ("Odlingslåda lärk 150 x 80 cm", 1890.00), ("Sekatör professionell", 269.00), ("USB-C-laddare 65 W", 349.00),
    ("Garderob furu 3 dörrar", 6490.00),
)
HARD = (("Femstjärnig hotellkudde 50 x 60 cm", 399.00), ("Täcke \"5 Stjärnor\" 150 x 210 cm", 1199.00))

ADDRESSES = (("Drottninggatan 53", "111 21", "Stockholm"), ("Kungsportsavenyen 10", "411 36", "Göteborg"),
             ("Stortorget 7", "211 22", "Malmö"), ("Svartbäcksgatan 14", "753 20", "Uppsala"),
             ("Storgatan 22 lgh 1102", "903 26", "Umeå"))

CARRIERS = (
    Carrier("PostNord", "https://tracking.postnord.com/se/?id={tn}", "99999999999SE"),
    Carrier("DHL", "https://www.dhl.com/se-sv/home/tracking.html?tracking-id={tn}", "9999999999"),
    Carrier("Bring", "https://tracking.bring.se/tracking/{tn}", "370999999999999999"),
)

TEXTS: dict[str, tuple[Variant, ...]] = {
    "invoice": (
        Variant("Din faktura {invoice_no} för Amazon-beställning {order}", (
            "Tack för din beställning hos {shop}. Bifogat finns faktura {invoice_no} för din Amazon-beställning "
            "{order} som PDF.",
            "[table]",
            "Fakturan visar momsen separat och kan sparas för din bokföring.",
        )),
        Variant("Faktura för beställning {order}", (
            "som du bad om skickar vi här fakturan för din beställning {order} från {date}.",
            "[table]",
            "[address]",
            "Spara fakturan: den gäller även som kvitto för garantin.",
        )),
    ),
    "return": (
        Variant("Din retur för beställning {order}", (
            "din retur kom fram till oss i dag och har kontrollerats. Varan är i felfritt skick, så vi har "
            "återbetalat {amount} via Amazon.",
            "Beroende på betalsätt syns pengarna på ditt konto inom 3–5 bankdagar.",
        )),
        Variant("Returetikett för beställning {order}", (
            "du har anmält en retur av \"{product}\" från beställning {order}. Bifogat finns en förbetald "
            "returetikett från {carrier}; skriv ut den och fäst den på paketet.",
        )),
    ),
    "review-request": (
        Variant("Din upplevelse av beställning {order}", (
            "din beställning {order} bör ha kommit fram nu.",
            "Om du har en stund skulle vi uppskatta om du delade din upplevelse av produkten i en recension på "
            "Amazon. Recensioner hjälper andra kunder att välja.",
        )),
    ),
    "delivery-scheduling": (
        Variant("Leveranstid för din beställning {order}", (
            "din beställning {order} (\"{product}\") levereras med speditör på pall, så vi behöver boka en "
            "leveranstid med dig.",
            "Speditören kan leverera {date} eller {date2} mellan kl. 8 och 16. Meddela oss vilken dag som passar "
            "och om någon är hemma.",
        )),
        Variant("Boka leverans – beställning {order}", (
            "för leveransen av beställning {order} behöver vi ett tidsfönster. Godset väger cirka 80 kg.",
            "Möjliga tider: {date} förmiddag eller {date2} eftermiddag. Vilken tid passar dig bäst?",
        )),
    ),
    "customization": (
        Variant("Gravyr för din beställning {order}", (
            "tack för din beställning {order}. Innan vi graverar \"{product}\" vill vi stämma av texten med dig.",
            "Du har angett texten \"{engraving}\". Bekräfta stavningen eller meddela oss ändringen. Vi börjar "
            "tillverkningen först när du har godkänt.",
        )),
    ),
    "address-problem": (
        Variant("Leveransadress för beställning {order}", (
            "när vi packade din beställning {order} såg vi att gatunumret saknas i leveransadressen:",
            "[address]",
            "Meddela oss den fullständiga adressen så att paketet kan levereras.",
        )),
        Variant("Beställning {order}: postnumret stämmer inte", (
            "din beställning {order} ska skickas till:",
            "[address]",
            "Postnumret {postcode} hör dock inte till {city}. Kontrollera gärna uppgifterna.",
        )),
    ),
    "order-problem": (
        Variant("Försening av beställning {order}", (
            "tyvärr försenas leveransen av beställning {order} eftersom vår leverantör levererar \"{product}\" "
            "senare. Vi räknar med att skicka {date}. Vill du hellre avbryta köpet? Svara på detta meddelande.",
        )),
    ),
    "order-confirmation": (
        Variant("Orderbekräftelse – beställning {order}", (
            "tack för din beställning! Vi bekräftar att vi har tagit emot beställning {order} från {date}.",
            "[table]",
            "[address]",
        )),
    ),
    "shipping-confirmation": (
        Variant("Din beställning {order} har skickats", (
            "goda nyheter: beställning {order} lämnade vårt lager i dag och har lämnats till {carrier}.",
            "[table]",
            "Spåra paketet: [tracking]",
        )),
    ),
    "thank-you": (
        Variant("Tack för ditt köp!", (
            "stort tack för din beställning {order} och ditt förtroende för {shop}.",
            "Vi hoppas att du blir nöjd. Har du frågor eller problem är du välkommen att höra av dig.",
        )),
    ),
    "out-of-stock": (
        Variant("Beställning {order}: varan är slut i lager", (
            "tyvärr är \"{product}\" från din beställning {order} slut i lager just nu. Leverantören räknar med "
            "en ny leverans {date}; vi skickar så snart varan kommer in.",
        )),
    ),
    "promotion": (
        Variant("Bara denna vecka: 20 % rabatt på allt", (
            "som kund hos {shop} (beställning {order}) får du 20 % rabatt till söndag med rabattkoden {code}.",
        )),
    ),
}

SNIPPETS: dict[str, tuple[str, ...]] = {
    "coupon": ("Som tack får du 10 % rabatt på nästa beställning med rabattkoden {code}.",),
    "shop-link": ("Besök gärna vår webbutik: https://www.{domain}/",),
    "seller-phone": ("Har du frågor? Ring oss på 054-12 34 56.",),
    "seller-email": ("Mejla oss på info@{domain}.",),
    "messenger": ("För snabbt svar kan du skriva till oss på WhatsApp: 070-123 45 67.",),
    "review-positive": ("Vi blir jätteglada för en positiv recension eller 5 stjärnor på Amazon!",),
    "review-incentive": ("Skriv en recension så skickar vi ett presentkort på 100 kr som tack.",),
    "emoji": ("Lycka till med den! 😊",),
    "contact-request": ("Skicka gärna ditt telefonnummer så att chauffören kan ringa dig.",),
    "manufacturer-hotline": ("För tekniska frågor och garanti, kontakta tillverkarens kundtjänst på "
                             "020-12 34 56 (avgiftsfritt).",),
}

QUESTIONS = (
    ("Hej, passar kedjan till Shimano 105?",
     "ja, kedjan passar alla 11-växlade Shimano-grupper, även 105. Kedjelås ingår."),
    ("Kan man tvätta duken i 60 grader?",
     "vi rekommenderar 40 grader: i 60 grader kan linnet krympa upp till 5 %."),
)

LOCALE = Locale(
    lang="sv", tag="sv-SE", marketplace="se", order_prefixes=("402", "403", "404", "405", "406", "407"),
    money=money, vat_rate=0.25, vat_label="varav moms {rate} %: {amount}",
    words={"order": "Ordernummer", "invoice": "Faktura", "pos": "Rad", "item": "Artikel", "sku": "Art.nr",
           "qty": "Antal", "price": "À-pris", "sum": "Belopp", "subtotal": "Delsumma", "shipping": "Frakt",
           "total": "Att betala", "ship_to": "Leveransadress", "attachment": "Faktura", "tracking": "Spåra paketet",
           "ean": "EAN", "country": "Sverige", "terms": "Kopvillkor", "label": "Returetikett", "proof": "Korrektur",
           "from": "Från", "question_subject": "Din fråga om beställning", "unsubscribe": "Avregistrera",
           "engraving": "Till morfar Bengt – 70 år"},
    salutations=("Hej {first}!", "Hej {first} {last},", "Hej,", "Bästa kund,"),
    buyers=(("", "Elin", "Johansson"), ("", "Oscar", "Karlsson"), ("", "Maja", "Nilsson"), ("", "Erik", "Andersson"),
            ("", "Sara", "Lindberg")),
    closings=("Med vänliga hälsningar", "Vänliga hälsningar", "Hälsningar", "Ha en fin dag!"),
    shops=SHOPS, products=PRODUCTS, addresses=ADDRESSES, carriers=CARRIERS, date=date,
    texts=TEXTS, snippets=SNIPPETS, charsets=("utf-8", "iso-8859-1", "windows-1252"),
    questions=QUESTIONS, quote_header="-----Ursprungligt meddelande-----", reply_prefix="SV:", keyword=None,
    hard_products=HARD,
)
