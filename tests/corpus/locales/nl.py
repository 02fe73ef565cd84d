"""Dutch (amazon.nl): Lightspeed-, WooCommerce- and JTL-style templates of Dutch and Flemish sellers."""

from __future__ import annotations

from tests.corpus.model import Carrier, Locale, Shop, Variant

MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
          "november", "december")


def money(x: float) -> str:
    whole, frac = f"{x:,.2f}".split(".")
    return f"€ {whole.replace(',', '.')},{frac}"


def date(y: int, m: int, d: int) -> str:
    return f"{d} {MONTHS[m - 1]} {y}"


SHOPS = (
    Shop("Houtwerk Jansen", "houtwerkjansen.nl", "bestellingen",
         ("Houtwerk Jansen B.V. · Industrieweg 18 · 3821 AL Amersfoort",
          "KvK 71234567 · btw-nummer NL858123456B01"),
         ("Tel. 033 456 78 90 · bestellingen@houtwerkjansen.nl · www.houtwerkjansen.nl",),
         "JTL-Wawi", "Team Houtwerk Jansen"),
    Shop("Fietsonderdelen De Vries", "fietsdevries.nl", "klantenservice",
         ("Fietsonderdelen De Vries V.O.F. · Stationsstraat 7 · 9711 AB Groningen",
          "Kamer van Koophandel 60123987 · BTW NL002345678B55"),
         ("Bel ons: 050 312 44 55 · klantenservice@fietsdevries.nl",),
         "Shopware", "Pieter de Vries"),
    Shop("Groen & Zo Tuinartikelen", "groenenzo.nl", "info",
         ("Groen & Zo B.V. · Tuinbouwweg 3 · 2671 DB Naaldwijk", "KvK-nummer 27145566 · Btw-id NL814422310B01"),
         ("Tel. 0174 62 11 00 · info@groenenzo.nl",),
         "Billbee", "Klantenservice Groen & Zo"),
)

PRODUCTS = (
    ("Snijplank eikenhout 40 x 25 cm", 39.95), ("Linnen tafelkleed 140 x 240 cm, saliegroen", 59.00),
    ("Fietsketting 11-speed 116 schakels", 29.95), ("Schijfremblokken organisch (2 paar)", 16.50),
    ("Verhoogde moestuinbak lariks 150 x 80 cm", 179.00), ("Snoeischaar professioneel", 23.95),
    ("USB-C oplader 65 W", 32.99), ("Kledingkast grenen 3-deurs", 625.00), ("Hoekbank ribstof antraciet", 1195.00),
)
HARD = (("5 sterren hotelkussen 60 x 70 cm", 39.95), ("Dekbed 'Vijf Sterren' 240 x 220 cm", 109.00))

ADDRESSES = (("Prinsengracht 263", "1016 GV", "Amsterdam"), ("Oudegracht 112", "3511 AW", "Utrecht"),
             ("Witte de Withstraat 45", "3012 BM", "Rotterdam"), ("Grote Markt 9", "9711 LV", "Groningen"),
             ("Stratumseind 20", "5611 ET", "Eindhoven"))

CARRIERS = (
    Carrier("PostNL", "https://jouw.postnl.nl/track-and-trace/{tn}-NL-1016GV", "3SABCD999999999"),
    Carrier("DHL", "https://www.dhl.com/nl-nl/home/tracking/tracking-parcel.html?tracking-id={tn}",
            "JVGL9999999999999999"),
    Carrier("DPD", "https://www.dpd.com/nl/nl/ontvangen/track-en-trace/?parcelNumber={tn}", "05999999999999"),
)

TEXTS: dict[str, tuple[Variant, ...]] = {
    "invoice": (
        Variant("Uw factuur {invoice_no} voor Amazon-bestelling {order}", (
            "Hartelijk dank voor uw bestelling bij {shop}. In de bijlage vindt u factuur {invoice_no} van uw "
            "Amazon-bestelling {order} als pdf.",
            "[table]",
            "Op de factuur staat de btw apart vermeld; u kunt hem bewaren voor uw administratie.",
        )),
        Variant("Factuur bij uw bestelling {order}", (
            "zoals gevraagd sturen wij u hierbij de factuur van uw bestelling {order} van {date}.",
            "[table]",
            "[address]",
            "Bewaar de factuur goed: hij geldt ook als aankoopbewijs voor de garantie.",
        )),
    ),
    "return": (
        Variant("Uw retour voor bestelling {order}", (
            "uw retourzending is vandaag bij ons binnengekomen en gecontroleerd. Het artikel is in perfecte staat; "
            "wij hebben {amount} via Amazon terugbetaald.",
            "Afhankelijk van uw betaalmethode staat het bedrag binnen 3 tot 5 werkdagen op uw rekening.",
        )),
        Variant("Retourlabel voor bestelling {order}", (
            "u heeft voor '{product}' uit bestelling {order} een retour aangemeld. In de bijlage vindt u het "
            "gratis retourlabel van {carrier}; print het uit en plak het op het pakket.",
        )),
    ),
    "review-request": (
        Variant("Uw ervaring met bestelling {order}", (
            "uw bestelling {order} is inmiddels bij u bezorgd.",
            "Als u even tijd heeft, zouden wij het fijn vinden als u uw ervaring met het product deelt in een "
            "review op Amazon. Reviews helpen andere klanten bij hun keuze.",
        )),
    ),
    "delivery-scheduling": (
        Variant("Leverafspraak voor uw bestelling {order}", (
            "uw bestelling {order} ('{product}') wordt per expediteur op een pallet geleverd. Daarom willen wij "
            "graag een leverafspraak met u maken.",
            "De vervoerder kan leveren op {date} of {date2}, tussen 8 en 16 uur. Laat u ons weten welke dag u "
            "schikt en of er iemand thuis is?",
        )),
        Variant("Bezorgmoment kiezen – bestelling {order}", (
            "voor de bezorging van uw bestelling {order} hebben wij een tijdvak nodig. Het pakket weegt ongeveer "
            "70 kg.",
            "Mogelijke tijdvakken: {date} 's ochtends of {date2} 's middags. Welk tijdvak past u het best?",
        )),
    ),
    "customization": (
        Variant("Gravure voor uw bestelling {order}", (
            "bedankt voor uw bestelling {order}. Voordat wij '{product}' graveren, willen wij de tekst met u "
            "afstemmen.",
            "U heeft de volgende tekst opgegeven: '{engraving}'. Wilt u de spelling bevestigen of ons de gewenste "
            "wijziging laten weten? Wij starten pas na uw akkoord.",
        )),
    ),
    "address-problem": (
        Variant("Bezorgadres van uw bestelling {order}", (
            "bij het verzenden van uw bestelling {order} zagen wij dat het huisnummer in het bezorgadres "
            "ontbreekt:",
            "[address]",
            "Wilt u ons het volledige adres doorgeven, zodat het pakket bezorgd kan worden?",
        )),
        Variant("Bestelling {order}: postcode klopt niet", (
            "uw bestelling {order} moet naar dit adres:",
            "[address]",
            "De postcode {postcode} hoort echter niet bij {city}. Wilt u de gegevens controleren?",
        )),
    ),
    "order-problem": (
        Variant("Vertraging van uw bestelling {order}", (
            "helaas is de verzending van uw bestelling {order} vertraagd, omdat onze leverancier '{product}' later "
            "levert. Wij verwachten op {date} te verzenden. Wilt u liever annuleren? Antwoord dan op dit bericht.",
        )),
    ),
    "order-confirmation": (
        Variant("Orderbevestiging – uw bestelling {order}", (
            "bedankt voor uw bestelling! Wij bevestigen de ontvangst van uw bestelling {order} van {date}.",
            "[table]",
            "[address]",
        )),
    ),
    "shipping-confirmation": (
        Variant("Uw bestelling {order} is verzonden", (
            "goed nieuws: uw bestelling {order} heeft vandaag ons magazijn verlaten en is overgedragen aan "
            "{carrier}.",
            "[table]",
            "Track & trace: [tracking]",
        )),
    ),
    "thank-you": (
        Variant("Bedankt voor uw aankoop!", (
            "hartelijk dank voor uw bestelling {order} en uw vertrouwen in {shop}.",
            "Wij wensen u veel plezier met uw aankoop. Heeft u vragen of problemen, neem dan gerust contact met ons "
            "op.",
        )),
    ),
    "out-of-stock": (
        Variant("Bestelling {order}: artikel niet op voorraad", (
            "helaas is '{product}' uit uw bestelling {order} op dit moment niet op voorraad. De leverancier "
            "verwacht een nieuwe levering op {date}; wij verzenden zodra het binnen is.",
        )),
    ),
    "promotion": (
        Variant("Alleen deze week: 20% korting op alles", (
            "als klant van {shop} (bestelling {order}) krijgt u tot zondag 20% korting met de kortingscode {code}.",
        )),
    ),
}

SNIPPETS: dict[str, tuple[str, ...]] = {
    "coupon": ("Als dank krijgt u 10% korting op uw volgende bestelling met de kortingscode {code}.",),
    "shop-link": ("Bezoek ook onze webshop: https://www.{domain}/",),
    "seller-phone": ("Heeft u vragen? Bel ons op 033 456 78 90.",),
    "seller-email": ("Mail ons gerust via info@{domain}.",),
    "messenger": ("Voor een snel antwoord kunt u ons appen via WhatsApp: 06 12345678.",),
    "review-positive": ("Wij zouden heel blij zijn met een positieve review of 5 sterren op Amazon!",),
    "review-incentive": ("Schrijf een review en ontvang van ons een cadeaubon van € 10 als bedankje.",),
    "emoji": ("Veel plezier ermee! 😊",),
    "contact-request": ("Kunt u ons uw telefoonnummer sturen, zodat de bezorger u kan bellen?",),
    "manufacturer-hotline": ("Voor technische vragen en garantie kunt u terecht bij de klantenservice van de "
                             "fabrikant: 0800 022 33 44 (gratis).",),
}

QUESTIONS = (
    ("Hallo, past de ketting op een Shimano 105 groep?",
     "ja, de ketting is geschikt voor alle 11-speed Shimano-groepen, ook voor 105. Een snelkoppeling zit in de "
     "verpakking."),
    ("Mag het tafelkleed op 60 graden in de wasmachine?",
     "wij raden 40 graden aan: op 60 graden kan het linnen tot 5% krimpen. Strijk het licht vochtig."),
)

LOCALE = Locale(
    lang="nl", tag="nl-NL", marketplace="nl", order_prefixes=("402", "403", "404", "405", "406", "407"),
    money=money, vat_rate=0.21, vat_label="waarvan btw {rate}%: {amount}",
    words={"order": "Bestelnummer", "invoice": "Factuur", "pos": "Nr.", "item": "Artikel", "sku": "Art.nr.",
           "qty": "Aantal", "price": "Stukprijs", "sum": "Bedrag", "subtotal": "Subtotaal",
           "shipping": "Verzendkosten", "total": "Totaal", "ship_to": "Bezorgadres", "attachment": "Factuur",
           "tracking": "Volg uw pakket", "ean": "EAN", "country": "Nederland", "terms": "Algemene_voorwaarden",
           "label": "Retourlabel", "proof": "Proefdruk", "from": "Van", "question_subject": "Uw vraag over bestelling",
           "unsubscribe": "Afmelden", "engraving": "Voor opa Henk – 75 jaar"},
    salutations=("Beste {first},", "Geachte {title} {last},", "Beste {first} {last},", "Hallo {first},",
                 "Beste klant,"),
    buyers=(("mevrouw", "Sanne", "de Jong"), ("heer", "Daan", "Bakker"), ("mevrouw", "Fleur", "Visser"),
            ("heer", "Thijs", "van den Berg"), ("mevrouw", "Noor", "El Amrani")),
    closings=("Met vriendelijke groet", "Vriendelijke groeten", "Hartelijke groet", "Groetjes"),
    shops=SHOPS, products=PRODUCTS, addresses=ADDRESSES, carriers=CARRIERS, date=date,
    texts=TEXTS, snippets=SNIPPETS, charsets=("utf-8", "iso-8859-15", "windows-1252"),
    questions=QUESTIONS, quote_header="-----Oorspronkelijk bericht-----", reply_prefix="RE:", keyword=None,
    hard_products=HARD,
)
