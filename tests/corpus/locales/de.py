"""German (amazon.de): JTL-Wawi, Billbee, Plentymarkets, Shopware, Afterbuy, whBOOK templates."""

from __future__ import annotations

from tests.corpus.model import Carrier, Locale, Shop, Variant

MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
          "November", "Dezember")


def money(x: float) -> str:
    whole, frac = f"{x:,.2f}".split(".")
    return f"{whole.replace(',', '.')},{frac} €"


def date(y: int, m: int, d: int) -> str:
    return f"{d}. {MONTHS[m - 1]} {y}"


SHOPS = (
    Shop("Holzwerk Brenner", "holzwerk-brenner.de", "service",
         ("Holzwerk Brenner GmbH · Gewerbestraße 14 · 87616 Marktoberdorf",
          "Geschäftsführer: Thomas Brenner · Amtsgericht Kempten (Allgäu) HRB 11482",
          "USt-IdNr.: DE 287 450 913 · WEEE-Reg.-Nr. DE 48291033"),
         ("Telefon: 08342 91 77 40 · E-Mail: service@holzwerk-brenner.de", "www.holzwerk-brenner.de"),
         "JTL-Wawi", "Ihr Team von Holzwerk Brenner"),
    Shop("Kaffeerösterei Lindner", "roesterei-lindner.de", "bestellung",
         ("Kaffeerösterei Lindner e.K. · Inhaberin: Sabine Lindner · Am Hafen 3 · 24937 Flensburg",
          "Registergericht: Amtsgericht Flensburg HRA 5731 FL · USt-IdNr. DE312845007",
          "Lebensmittelkontrolle: Kreis Schleswig-Flensburg"),
         ("Tel. +49 461 50 48 22-0 | info@roesterei-lindner.de | roesterei-lindner.de",),
         "Billbee", "Sabine Lindner und das Röstteam"),
    Shop("Technikhaus Albrecht", "technikhaus-albrecht.de", "noreply",
         ("Technikhaus Albrecht GmbH & Co. KG, Carl-Zeiss-Ring 7, 85737 Ismaning",
          "Sitz Ismaning, Amtsgericht München HRA 109233",
          "Komplementärin: Albrecht Verwaltungs GmbH, Amtsgericht München HRB 247810",
          "USt-IdNr.: DE298331470 · Steuernummer 143/165/40271"),
         ("Service-Hotline: 089 4161 993-0 · E-Mail: kundenservice@technikhaus-albrecht.de",),
         "Plentymarkets", "Ihr Kundenservice von Technikhaus Albrecht"),
    Shop("Stoffwechsel Textilmanufaktur", "stoffwechsel-textil.de", "shop",
         ("Stoffwechsel Textilmanufaktur UG (haftungsbeschränkt) · Lindenauer Markt 21 · 04177 Leipzig",
          "Amtsgericht Leipzig HRB 35907 · Geschäftsführerin: Jana Voigt · USt-IdNr. DE 321 906 448"),
         ("Fon 0341 / 23 19 87 55 · Mail: hallo@stoffwechsel-textil.de · Web: www.stoffwechsel-textil.de",),
         "Shopware", "Jana Voigt"),
    Shop("Gartenwelt Hoffmann", "gartenwelt-hoffmann.de", "auftrag",
         ("Gartenwelt Hoffmann GmbH – Industriestraße 40 – 49716 Meppen",
          "Handelsregister: Amtsgericht Osnabrück, HRB 206671 – USt-IdNr.: DE 813 559 201",
          "Geschäftsführung: Markus Hoffmann, Petra Hoffmann"),
         ("Telefon 05931 88 66 0 – Telefax 05931 88 66 29 – auftrag@gartenwelt-hoffmann.de",),
         "Afterbuy", "Ihr Gartenwelt-Hoffmann-Team"),
    Shop("Bürobedarf Krämer", "buero-kraemer.de", "rechnung",
         ("Bürobedarf Krämer OHG · Bahnhofstraße 88 · 66111 Saarbrücken",
          "Gesellschafter: Uwe Krämer, Lars Krämer · Amtsgericht Saarbrücken HRA 11893",
          "USt-IdNr. DE138004562"),
         ("Tel. 0681 / 93 81 20 · Fax 0681 / 93 81 220 · rechnung@buero-kraemer.de",),
         "whBOOK", "Lars Krämer"),
    Shop("Velo-Teile Schuster", "velo-schuster.de", "versand",
         ("Velo-Teile Schuster GmbH · Im Gewerbepark 5 · 79108 Freiburg im Breisgau",
          "Amtsgericht Freiburg i. Br. HRB 717340 · USt-IdNr. DE 309 127 556",
          "Verpackungsregister LUCID: DE3284719250317"),
         ("Telefon 0761 / 557 08 90 | E-Mail versand@velo-schuster.de",),
         "JTL-Wawi", "Ihr Velo-Teile-Schuster-Team"),
)

PRODUCTS = (
    ("Schneidebrett Eiche massiv 40 x 25 cm", 39.90), ("Frühstücksbrettchen Buche 4er-Set", 24.95),
    ("Espressobohnen Hausmischung 1 kg", 21.90), ("Filterkaffee Äthiopien Sidamo 500 g", 14.50),
    ("USB-C Ladegerät 65 W GaN", 34.99), ("HDMI-Kabel 2.1 8K 2 m", 12.99), ("Funk-Türklingel Set IP55", 29.99),
    ("Leinen-Tischdecke 140 x 240 cm, Salbei", 59.00), ("Bio-Baumwoll-Geschirrtücher 3er-Pack", 18.50),
    ("Hochbeet Lärche 150 x 80 x 80 cm", 189.00), ("Rasensamen Schattenrasen 2,5 kg", 27.95),
    ("Gartenschere Bypass Profi", 22.49), ("Ordner A4 breit, 10 Stück", 19.90),
    ("Kopierpapier A4 80 g/m², 2.500 Blatt", 24.99), ("Fahrradkette 11-fach 116 Glieder", 32.90),
    ("Scheibenbremsbeläge organisch (2 Paar)", 17.80), ("Faltbare Gartenbank Akazie", 149.00),
    ("Kleiderschrank Kiefer massiv 3-türig", 699.00), ("Ecksofa Cord anthrazit", 1249.00),
    ("Akku-Bohrschrauber 18 V inkl. 2 Akkus", 119.00),
)

HARD_PRODUCTS = (
    ("5-Sterne Hotel Kopfkissen 80 x 80 cm, Daunen", 49.90),
    ("Hotelkissen „Fünf Sterne Deluxe“ 40 x 80 cm", 39.95),
    ("Bewertungsbogen-Block A5 (Schulbedarf, 50 Blatt)", 4.99),
    ("Rabattmarken-Sammelheft Retro (Deko)", 6.50),
    ("Gutscheinbox Holz zum Befüllen", 12.90),
    ("Sternenhimmel-Projektor „Sterne Deluxe“", 29.99),
)

ADDRESSES = (
    ("Lindenstraße 12", "10969", "Berlin"), ("Am Mühlbach 3a", "83022", "Rosenheim"),
    ("Hauptstraße 147", "69117", "Heidelberg"), ("Eichendorffweg 9", "30457", "Hannover"),
    ("Kastanienallee 56", "04105", "Leipzig"), ("Schulstraße 2", "56068", "Koblenz"),
    ("Bergstraße 21", "01069", "Dresden"), ("Friedrich-Ebert-Platz 4", "42103", "Wuppertal"),
)

CARRIERS = (
    Carrier("DHL", "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode={tn}",
            "00340434299999999999"),
    Carrier("DPD", "https://tracking.dpd.de/status/de_DE/parcel/{tn}", "0150999999999999"),
    Carrier("GLS", "https://gls-pakete.de/sendungsverfolgung?trackingNumber={tn}", "99999999999"),
    Carrier("Hermes", "https://www.myhermes.de/empfangen/sendungsverfolgung/sendungsinformation/#{tn}",
            "H10999999999999999999"),
    Carrier("UPS", "https://www.ups.com/track?loc=de_DE&tracknum={tn}", "1Z9999A99999999999"),
)

TEXTS: dict[str, tuple[Variant, ...]] = {
    "invoice": (
        Variant("Ihre Rechnung {invoice_no} zur Amazon-Bestellung {order}", (
            "vielen Dank für Ihre Bestellung bei {shop}. Im Anhang dieser E-Mail erhalten Sie die Rechnung "
            "{invoice_no} zu Ihrer Amazon-Bestellung {order} als PDF-Dokument.",
            "[table]",
            "Die Rechnung weist die enthaltene Mehrwertsteuer gesondert aus und kann für Ihre Unterlagen "
            "oder die Steuererklärung verwendet werden.",
        )),
        Variant("Rechnung zu Ihrer Bestellung {order}", (
            "anbei senden wir Ihnen die Rechnung zu Ihrer Bestellung {order} vom {date}.",
            "[table]",
            "[address]",
            "Bitte bewahren Sie die Rechnung auf; sie dient zugleich als Garantienachweis.",
        )),
        Variant("Rechnung {invoice_no} – Bestellung {order}", (
            "Sie haben bei Amazon eine Rechnung angefordert. Diese finden Sie im Anhang (PDF).",
            "Bestellnummer: {order}\nRechnungsnummer: {invoice_no}\nRechnungsdatum: {date}",
            "[table]",
        )),
        Variant("Ihre Rechnung von {shop} ({order})", (
            "für Ihren Einkauf stellen wir Ihnen folgende Leistungen in Rechnung. Das Rechnungsdatum entspricht "
            "dem Liefer- bzw. Leistungsdatum.",
            "[table]",
            "Der Rechnungsbetrag wurde bereits über Amazon beglichen; Sie müssen nichts weiter tun.",
        )),
    ),
    "return": (
        Variant("Ihre Rücksendung zur Bestellung {order}", (
            "Ihre Rücksendung ist heute bei uns eingegangen und wurde geprüft. Die Ware ist in einwandfreiem "
            "Zustand; wir haben die Erstattung über {amount} soeben über Amazon veranlasst.",
            "Die Gutschrift erscheint je nach Zahlungsart innerhalb von 3 bis 5 Werktagen auf Ihrem Konto.",
        )),
        Variant("Rücksendung {order}: Rücksendeetikett", (
            "Sie haben für den Artikel „{product}“ aus Ihrer Bestellung {order} eine Rücksendung angemeldet. "
            "Im Anhang finden Sie das Rücksendeetikett von {carrier}; bitte drucken Sie es aus und kleben Sie es "
            "gut sichtbar auf das Paket.",
            "Die Erstattung erfolgt, sobald die Ware bei uns eingegangen und geprüft ist. Die Rücksendekosten "
            "übernehmen wir.",
        )),
        Variant("Erstattung zu Ihrer Bestellung {order}", (
            "es tut uns leid, dass der Artikel „{product}“ beschädigt bei Ihnen angekommen ist. Eine Rücksendung "
            "ist nicht nötig: Wir haben Ihnen {amount} über Amazon erstattet.",
            "Die Bewertung des Transportschadens anhand Ihrer Fotos hat ergeben, dass der Schaden beim Versand "
            "entstanden ist. Wir klären das mit dem Paketdienst.",
        )),
        Variant("Ihre Retoure {order} – Teilerstattung", (
            "die Rücksendung zu Ihrer Bestellung {order} ist eingetroffen. Leider fehlt das Zubehör "
            "(Ladekabel und Netzteil), deshalb können wir nur einen Teilbetrag von {amount} erstatten "
            "(Wertminderung gemäß § 357a BGB).",
            "Wenn Sie das Zubehör nachsenden, erstatten wir den Restbetrag umgehend.",
        )),
    ),
    "review-request": (
        Variant("Ihre Meinung zu Ihrer Bestellung {order}", (
            "Ihre Bestellung {order} sollte inzwischen bei Ihnen angekommen sein.",
            "Wir würden uns freuen, wenn Sie Ihre Erfahrungen mit dem Artikel in einer Bewertung bei Amazon "
            "teilen. Ihre Rezension hilft anderen Kundinnen und Kunden bei der Kaufentscheidung.",
            "Sie können die Bewertung direkt in Ihrem Amazon-Konto unter „Meine Bestellungen“ abgeben.",
        )),
        Variant("Bestellung {order}: Wie gefällt Ihnen der Artikel?", (
            "vor einigen Tagen haben Sie „{product}“ erhalten.",
            "Wenn Sie einen Moment Zeit haben, hinterlassen Sie gern eine Produktbewertung auf Amazon – egal, "
            "wie Ihr Eindruck ausfällt. Ihr ehrliches Urteil hilft uns, unser Sortiment zu verbessern.",
        )),
    ),
    "delivery-scheduling": (
        Variant("Liefertermin für Ihre Bestellung {order}", (
            "Ihre Bestellung {order} („{product}“) wird per Spedition geliefert. Damit die Anlieferung "
            "klappt, möchten wir den Liefertermin mit Ihnen abstimmen.",
            "Die Spedition kann am {date} oder am {date2} jeweils zwischen 8 und 16 Uhr liefern. Bitte teilen Sie "
            "uns mit, welcher Tag Ihnen passt und ob jemand zu Hause ist.",
            "Die Lieferung erfolgt frei Bordsteinkante; das Tragen in die Wohnung ist nicht enthalten.",
        )),
        Variant("Anlieferung Ihres Artikels – Bestellung {order}", (
            "für die Zustellung Ihrer Bestellung {order} benötigen wir einen Termin. Der Artikel wiegt "
            "rund 85 kg und wird auf einer Palette angeliefert.",
            "Mögliche Zeitfenster: {date} vormittags oder {date2} nachmittags. Welches Zeitfenster ist für Sie "
            "günstiger? Eine kurze Antwort auf diese Nachricht genügt.",
        )),
        Variant("Ihre Speditionslieferung {order}: Terminvorschlag", (
            "die Spedition hat uns für Ihre Bestellung {order} folgende Terminvorschläge gemacht: {date} oder "
            "{date2}. Bitte antworten Sie uns kurz, welcher Tag für Sie passt.",
            "Die Anlieferung wird am Vortag telefonisch von der Spedition avisiert.",
        )),
    ),
    "customization": (
        Variant("Gravur zu Ihrer Bestellung {order}", (
            "vielen Dank für Ihre Bestellung {order}. Bevor wir „{product}“ gravieren, möchten wir den "
            "Text mit Ihnen abstimmen.",
            "Sie haben folgenden Wunschtext angegeben: „{engraving}“. Bitte bestätigen Sie uns die Schreibweise "
            "oder teilen Sie uns die gewünschte Änderung mit. Erst nach Ihrer Freigabe gehen wir in die Fertigung.",
        )),
        Variant("Korrekturabzug für Ihre personalisierte Bestellung {order}", (
            "im Anhang finden Sie den Korrekturabzug für Ihre Personalisierung. Bitte prüfen Sie Text, "
            "Schriftart und Anordnung.",
            "Passt alles, genügt eine kurze Antwort mit „Freigabe“. Änderungswünsche setzen wir gern um.",
        )),
        Variant("Bestellung {order}: Frage zu Ihrem Motiv", (
            "für den Aufdruck auf „{product}“ liegt uns Ihr Motiv nur in geringer Auflösung vor. Damit der Druck "
            "scharf wird, benötigen wir die Datei in höherer Auflösung (mindestens 300 dpi).",
            "Bitte laden Sie die Datei über die Amazon-Nachrichtenfunktion als Antwort auf diese Nachricht hoch.",
        )),
    ),
    "address-problem": (
        Variant("Lieferadresse zu Ihrer Bestellung {order}", (
            "beim Versand Ihrer Bestellung {order} ist uns aufgefallen, dass in der Lieferadresse die "
            "Hausnummer fehlt:",
            "[address]",
            "Bitte teilen Sie uns die vollständige Anschrift mit, damit das Paket zugestellt werden kann.",
        )),
        Variant("Bestellung {order}: Zustellung nicht möglich", (
            "der Paketdienst konnte Ihre Sendung zur Bestellung {order} leider nicht zustellen: Der Empfänger "
            "ist unter der angegebenen Anschrift unbekannt. Die Sendung kommt zu uns zurück.",
            "Bitte prüfen Sie die Lieferadresse und teilen Sie uns mit, ob wir an eine andere Anschrift "
            "versenden sollen.",
        )),
        Variant("Frage zur Lieferanschrift – Bestellung {order}", (
            "Ihre Bestellung {order} soll an folgende Anschrift geliefert werden:",
            "[address]",
            "Die Postleitzahl {postcode} passt jedoch nicht zum Ort {city}. Bitte kontrollieren Sie die Angaben "
            "kurz, bevor wir das Paket übergeben.",
        )),
    ),
    "order-problem": (
        Variant("Verzögerung bei Ihrer Bestellung {order}", (
            "leider verzögert sich der Versand Ihrer Bestellung {order}, weil unser Lieferant den Artikel "
            "„{product}“ später als angekündigt liefert.",
            "Nach aktuellem Stand versenden wir am {date}. Falls Sie unter diesen Umständen lieber stornieren "
            "möchten, antworten Sie bitte auf diese Nachricht; die Stornierung ist für Sie kostenlos.",
        )),
        Variant("Bestellung {order}: Ihr Paket wurde beschädigt", (
            "{carrier} hat uns mitgeteilt, dass Ihr Paket zur Bestellung {order} im Paketzentrum beschädigt wurde "
            "und nicht weiter transportiert wird.",
            "Wir haben Ihnen heute kostenlos Ersatz geschickt. Sendungsverfolgung: [tracking]",
        )),
    ),
    "order-confirmation": (
        Variant("Bestellbestätigung – Ihre Bestellung {order}", (
            "vielen Dank für Ihre Bestellung! Hiermit bestätigen wir den Eingang Ihrer Bestellung {order} "
            "vom {date}.",
            "[table]",
            "[address]",
            "Sobald Ihre Ware unser Lager verlässt, erhalten Sie eine Versandbestätigung.",
        )),
        Variant("Wir haben Ihre Bestellung {order} erhalten", (
            "Ihre Bestellung ist bei uns eingegangen und wird bearbeitet. Hier noch einmal die Übersicht:",
            "[table]",
            "Unsere AGB und die Widerrufsbelehrung finden Sie im Anhang.",
        )),
    ),
    "shipping-confirmation": (
        Variant("Versandbestätigung zu Ihrer Bestellung {order}", (
            "gute Nachrichten: Ihre Bestellung {order} hat heute unser Lager verlassen und wurde an {carrier} "
            "übergeben.",
            "[table]",
            "Sendungsnummer: {tn}\nSendungsverfolgung: [tracking]",
            "Voraussichtliche Lieferung: {date}",
        )),
        Variant("Ihre Bestellung {order} ist unterwegs", (
            "Ihr Paket ist auf dem Weg zu Ihnen! Mit folgendem Link können Sie die Sendung verfolgen: [tracking]",
            "[address]",
            "Wir wünschen Ihnen viel Freude mit Ihrem neuen Artikel.",
        )),
    ),
    "thank-you": (
        Variant("Danke für Ihren Einkauf!", (
            "vielen Dank für Ihre Bestellung {order} und Ihr Vertrauen in {shop}.",
            "Wir wünschen Ihnen viel Freude mit Ihrem neuen Artikel. Sollten Sie Fragen haben oder sollte es ein "
            "Problem geben, melden Sie sich jederzeit gern bei uns.",
        )),
        Variant("Herzlichen Dank – Bestellung {order}", (
            "wir möchten uns ganz herzlich für Ihren Einkauf bedanken! Als kleines Familienunternehmen freuen wir "
            "uns über jede einzelne Bestellung.",
            "Bei Fragen rund um Ihre Bestellung {order} stehen wir Ihnen gerne zur Verfügung.",
        )),
    ),
    "out-of-stock": (
        Variant("Bestellung {order}: Artikel derzeit nicht lieferbar", (
            "leider ist der Artikel „{product}“ aus Ihrer Bestellung {order} derzeit nicht vorrätig. Unser "
            "Lieferant hat uns die nächste Lieferung für den {date} angekündigt.",
            "Wir versenden Ihre Bestellung, sobald die Ware eingetroffen ist. Wir bitten um Ihr Verständnis.",
        )),
        Variant("Lieferengpass – Ihre Bestellung {order}", (
            "der Artikel „{product}“ ist bei uns momentan ausverkauft. Wir haben ihn nachbestellt und melden uns, "
            "sobald er wieder auf Lager ist.",
        )),
    ),
    "promotion": (
        Variant("Nur diese Woche: 20 % auf das ganze Sortiment", (
            "als geschätzte Kundin bzw. geschätzter Kunde von {shop} (Bestellung {order}) möchten wir Ihnen "
            "unsere Herbstaktion nicht vorenthalten.",
            "Bis Sonntag erhalten Sie 20 % Rabatt auf alle Artikel – mit dem Gutscheincode {code}. Unsere "
            "Neuheiten finden Sie ab sofort im Shop.",
        )),
    ),
}

SNIPPETS: dict[str, tuple[str, ...]] = {
    "coupon": (
        "Als Dankeschön erhalten Sie 10 % Rabatt auf Ihre nächste Bestellung mit dem Gutscheincode {code}.",
        "Kleines Extra: Mit dem Rabattcode {code} sparen Sie bei Ihrem nächsten Einkauf 5 €.",
    ),
    "shop-link": (
        "Besuchen Sie auch unseren Onlineshop: https://www.{domain}/",
        "Mehr über uns und unsere Produkte: https://{domain}/ueber-uns",
    ),
    "spelled-link": (
        "Sie finden unser komplettes Sortiment unter www punkt {domain_spelled} punkt de.",
        "Schauen Sie mal vorbei: {domain_spelled} (punkt) de",
    ),
    "seller-phone": (
        "Bei Fragen erreichen Sie uns telefonisch unter 08342 91 77 40 (Mo–Fr 9–17 Uhr).",
        "Rufen Sie uns gerne an: 0761 557 08 90.",
    ),
    "seller-email": (
        "Schreiben Sie uns bei Fragen einfach an kundenservice@{domain}.",
    ),
    "messenger": (
        "Für eine schnelle Antwort schreiben Sie uns gern per WhatsApp an 0171 2345678.",
        "Sie erreichen uns auch über Telegram (@{handle}).",
    ),
    "contact-request": (
        "Bitte teilen Sie uns Ihre Telefonnummer mit, damit wir Sie bei Rückfragen erreichen können.",
        "Damit wir Ihnen die Rechnung direkt zuschicken können, senden Sie uns bitte Ihre private E-Mail-Adresse.",
    ),
    "review-positive": (
        "Über eine positive Bewertung bei Amazon würden wir uns sehr freuen!",
        "Wir würden uns riesig über 5 Sterne freuen – das hilft uns als kleinem Familienbetrieb enorm.",
    ),
    "review-incentive": (
        "Für Ihre Bewertung bei Amazon schicken wir Ihnen als Dankeschön einen 5-€-Gutschein.",
        "Wer eine Rezension schreibt, bekommt beim nächsten Mal ein Geschenk gratis dazu.",
    ),
    "review-satisfied": (
        "Wenn Sie zufrieden sind, hinterlassen Sie uns bitte eine Bewertung. Wenn nicht, melden Sie sich bitte "
        "zuerst bei uns.",
    ),
    "review-change": (
        "Nachdem wir Ihr Anliegen gelöst haben: Wären Sie so freundlich, Ihre negative Bewertung zu löschen "
        "oder zu ändern?",
    ),
    "cross-sell": (
        "Passend zu Ihrem Kauf empfehlen wir unsere anderen Produkte aus der gleichen Serie – schauen Sie sich "
        "gerne unsere Neuheiten an.",
        "Das passende Zubehör finden Sie hier: https://www.amazon.de/dp/B0C7KX2M4Q – jetzt zugreifen!",
    ),
    "optout": (
        "Sie möchten keine weiteren E-Mails von uns erhalten? Dann können Sie sich hier abmelden: "
        "https://www.{domain}/newsletter/abmelden",
    ),
    "emoji": ("Viel Freude damit! 😊", "Ihr Paket ist schon fast bei Ihnen 📦🚚"),
    "manufacturer-hotline": (
        "Für technische Fragen und Garantiefälle wenden Sie sich bitte direkt an den Kundendienst des "
        "Herstellers. Die kostenlose Service-Hotline des Herstellers ist montags bis freitags von 8 bis 18 Uhr "
        "für Sie da: 0800 5 89 01 23.",
        "Hinweis zur Garantie: Die Herstellergarantie beträgt 3 Jahre. Bitte registrieren Sie das Gerät "
        "innerhalb von 30 Tagen nach dem Kauf; für die Registrierung und alle technischen Fragen erreichen Sie "
        "den Service der Firma Voltmaster unter 0800 7 66 55 44.",
    ),
    "carrier-phone": (
        "Die Spedition Wiedemann meldet sich einen Tag vor der Anlieferung. Sie erreichen die Spedition "
        "auch selbst unter 08331 92 40 60.",
    ),
    "quote-header": ("-----Ursprüngliche Nachricht-----",),
}

QUESTIONS = (
    ("Hallo, passt der Akku auch in das ältere Modell von 2019? Viele Grüße",
     "der Akku passt in alle Modelle ab Baujahr 2017, also auch in Ihr Gerät von 2019. Sie müssen nur die "
     "Halteschiene umstecken; eine Anleitung liegt dem Paket bei."),
    ("Guten Tag, kann ich die Tischdecke bei 60 Grad waschen?",
     "die Tischdecke aus Leinen können Sie bei 40 Grad waschen; bei 60 Grad kann sie bis zu 5 % einlaufen. "
     "Bitte nicht in den Trockner geben und leicht feucht bügeln."),
    ("Mein Paket ist noch nicht da, laut Sendungsverfolgung liegt es seit 4 Tagen im Depot. Was ist los?",
     "wir haben bei {carrier} nachgefragt: Das Paket wurde im Depot falsch sortiert und ist seit heute wieder "
     "unterwegs. Die Zustellung ist für {date} geplant. Den aktuellen Stand sehen Sie hier: [tracking]"),
    ("Hallo, ich möchte den Artikel zurückgeben, er ist mir zu groß. Wie geht das?",
     "Sie können die Rücksendung direkt in Ihrem Amazon-Konto unter „Meine Bestellungen“ anmelden. Dort "
     "erhalten Sie auch das kostenlose Rücksendeetikett. Die Erstattung erfolgt nach Eingang der Ware."),
    ("Ist der Kaffee auch als ganze Bohne erhältlich? Ich habe aus Versehen gemahlen bestellt.",
     "das ist kein Problem: Wir tauschen die Packung gern um. Bitte schicken Sie die ungeöffnete Packung mit "
     "dem beiliegenden Retourenschein zurück; die ganzen Bohnen versenden wir sofort nach Eingang."),
    ("Können Sie mir eine Rechnung mit meiner Firmenanschrift ausstellen? Firma Lenz Bau GmbH, Am Ring 4, "
     "55116 Mainz.",
     "gern: Die korrigierte Rechnung mit Ihrer Firmenanschrift finden Sie im Anhang. Die alte Rechnung "
     "haben wir storniert."),
)

LOCALE = Locale(
    lang="de", tag="de-DE", marketplace="de",
    order_prefixes=("302", "303", "304", "305", "306", "028"),
    money=money, vat_rate=0.19, vat_label="enthaltene MwSt. {rate} %: {amount}",
    words={"order": "Bestellnummer", "invoice": "Rechnung", "pos": "Pos.", "item": "Artikel", "sku": "Art.-Nr.",
           "qty": "Menge", "price": "Einzelpreis", "sum": "Gesamt", "subtotal": "Zwischensumme",
           "shipping": "Versandkosten", "total": "Gesamtbetrag", "ship_to": "Lieferadresse",
           "bill_to": "Rechnungsadresse", "date": "Datum", "attachment": "Rechnung", "tracking": "Sendung verfolgen",
           "ean": "EAN", "country": "Deutschland", "terms": "AGB_und_Widerrufsbelehrung",
           "label": "Ruecksendeetikett", "proof": "Korrekturabzug", "from": "Von",
           "question_subject": "Ihre Frage zur Bestellung", "unsubscribe": "Newsletter abbestellen",
           "engraving": "Für Oma Inge – 80 Jahre, 14.03.2027"},
    salutations=("Sehr geehrte{title_e} {title} {last},", "Hallo {first} {last},", "Guten Tag {first} {last},",
                 "Liebe{title_e} {first} {last},", "Guten Tag,"),
    buyers=(("Frau", "Anna", "Schneider"), ("Herr", "Jürgen", "Weiß"), ("Frau", "Özlem", "Yılmaz"),
            ("Herr", "Maximilian", "Groß"), ("Frau", "Käthe", "Müller-Lüdenscheidt"), ("Herr", "Lukas", "Becker"),
            ("Frau", "Sophie", "Wagner"), ("Herr", "Stefan", "Hofmann")),
    closings=("Mit freundlichen Grüßen", "Viele Grüße", "Freundliche Grüße", "Beste Grüße", "Herzliche Grüße"),
    shops=SHOPS, products=PRODUCTS, addresses=ADDRESSES, carriers=CARRIERS, date=date,
    texts=TEXTS, snippets=SNIPPETS, charsets=("utf-8", "iso-8859-1", "iso-8859-15", "windows-1252"),
    questions=QUESTIONS, quote_header="-----Ursprüngliche Nachricht-----", reply_prefix="AW:",
    keyword="Wichtig", hard_products=HARD_PRODUCTS,
)
