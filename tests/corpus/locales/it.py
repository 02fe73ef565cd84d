"""Italian (amazon.it): templates of Italian sellers (Shopify, Plentymarkets, gestionali)."""

from __future__ import annotations

from tests.corpus.model import Carrier, Locale, Shop, Variant

MONTHS = ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre",
          "novembre", "dicembre")


def money(x: float) -> str:
    whole, frac = f"{x:,.2f}".split(".")
    return f"{whole.replace(',', '.')},{frac} €"


def date(y: int, m: int, d: int) -> str:
    return f"{d} {MONTHS[m - 1]} {y}"


SHOPS = (
    Shop("Bottega Artigiana Rossi", "bottegarossi.it", "ordini",
         ("Bottega Artigiana Rossi S.r.l. · Via dei Calzaiuoli 21 · 50122 Firenze (FI)",
          "P.IVA 05123480487 · REA FI-521347 · Cap. soc. € 10.000,00 i.v."),
         ("Tel. 055 123 4567 · ordini@bottegarossi.it · www.bottegarossi.it",),
         "Shopify", "Lo staff di Bottega Artigiana Rossi"),
    Shop("Casa Verde Giardinaggio", "casaverde-giardino.it", "assistenza",
         ("Casa Verde Giardinaggio S.n.c. di Bianchi Marco & C. · Via Emilia 144 · 40026 Imola (BO)",
          "Partita IVA e C.F. 03201871207 · Iscr. Registro Imprese di Bologna"),
         ("Assistenza clienti 0542 61 23 45 · assistenza@casaverde-giardino.it",),
         "Plentymarkets", "Marco Bianchi"),
    Shop("TecnoPiù", "tecnopiu-store.it", "supporto",
         ("TecnoPiù S.p.A. · Corso Buenos Aires 58 · 20124 Milano",
          "Capitale sociale € 120.000 i.v. · P.IVA IT09876540961 · REA MI-2118345 · Registro AEE IT19020000011223"),
         ("Numero verde assistenza 02 8945 2210 · supporto@tecnopiu-store.it",),
         "JTL-Wawi", "Il servizio clienti TecnoPiù"),
    Shop("Ciclofficina Conti", "ciclofficinaconti.it", "info",
         ("Ciclofficina Conti di Luca Conti · Via Roma 9 · 10121 Torino · P.IVA 11223344556",),
         ("Chiamaci al 011 534 2211 · info@ciclofficinaconti.it",),
         "Billbee", "Luca Conti"),
)

PRODUCTS = (
    ("Tagliere in legno d'ulivo 40 x 25 cm", 45.00), ("Borsa in pelle conciata al vegetale", 129.00),
    ("Tovaglia di lino 150 x 250 cm, salvia", 64.00), ("Moka in alluminio 6 tazze", 27.90),
    ("Caricabatterie USB-C 65 W", 31.99), ("Cavo HDMI 2.1 8K 2 m", 13.99),
    ("Vaso in terracotta dell'Impruneta 50 cm", 79.00), ("Forbici da potatura professionali", 24.50),
    ("Catena bici 11 velocità 116 maglie", 29.90), ("Pastiglie freni a disco organiche (2 coppie)", 17.50),
    ("Armadio in pino massello 3 ante", 610.00), ("Divano angolare in velluto", 1150.00),
)
HARD = (("Cuscino da hotel 5 stelle 50 x 80 cm", 39.90), ("Piumone «Cinque Stelle» matrimoniale", 99.00),
        ("Porta buoni sconto in pelle (organizer)", 14.90))

ADDRESSES = (("Via Garibaldi 15", "20121", "Milano"), ("Piazza Navona 4", "00186", "Roma"),
             ("Via Toledo 210", "80134", "Napoli"), ("Corso Vittorio Emanuele II 88", "10121", "Torino"),
             ("Via Indipendenza 31", "40121", "Bologna"), ("Via Maqueda 170", "90133", "Palermo"))

CARRIERS = (
    Carrier("BRT", "https://vas.brt.it/vas/sped_det_show.hsm?referer=sped_numspe_par.htm&Nspediz={tn}",
            "999999999999"),
    Carrier("Poste Italiane", "https://www.poste.it/cerca/index.html#/risultati-spedizioni/{tn}", "AA999999999IT"),
    Carrier("GLS", "https://www.gls-italy.com/it/servizi-per-destinatari/ricerca-spedizione?match={tn}",
            "AA999999999"),
    Carrier("SDA", "https://www.sda.it/wps/portal/Servizi_online/dettaglio-spedizione?locale=it&tracing.letteraVettura={tn}",
            "9999999999999"),
)

TEXTS: dict[str, tuple[Variant, ...]] = {
    "invoice": (
        Variant("La sua fattura {invoice_no} per l'ordine Amazon {order}", (
            "La ringraziamo per il suo ordine presso {shop}. In allegato trova la fattura {invoice_no} relativa "
            "all'ordine Amazon {order} in formato PDF.",
            "[table]",
            "La fattura riporta l'IVA separatamente e può essere conservata per la sua contabilità.",
        )),
        Variant("Fattura del suo ordine {order}", (
            "come richiesto, le inviamo la fattura del suo ordine {order} del {date}.",
            "[table]",
            "[address]",
            "La conservi: vale anche come prova d'acquisto per la garanzia.",
        )),
        Variant("Fattura {invoice_no} – ordine {order}", (
            "Ha richiesto una fattura tramite Amazon: la trova allegata a questo messaggio (PDF).",
            "Numero ordine: {order}\nNumero fattura: {invoice_no}\nData: {date}",
            "[table]",
        )),
    ),
    "return": (
        Variant("Il suo reso per l'ordine {order}", (
            "il suo reso è arrivato oggi ed è stato controllato. L'articolo è in perfette condizioni: abbiamo "
            "disposto il rimborso di {amount} tramite Amazon.",
            "A seconda del metodo di pagamento, l'accredito sarà visibile entro 3-5 giorni lavorativi.",
        )),
        Variant("Etichetta di reso – ordine {order}", (
            "ha richiesto il reso dell'articolo «{product}» dell'ordine {order}. In allegato trova l'etichetta di "
            "reso prepagata {carrier}: la stampi e la applichi sul pacco.",
            "Il rimborso verrà effettuato non appena l'articolo sarà rientrato e controllato.",
        )),
        Variant("Rimborso del suo ordine {order}", (
            "ci dispiace che l'articolo «{product}» sia arrivato danneggiato. Non è necessario restituirlo: le "
            "abbiamo rimborsato {amount} tramite Amazon.",
        )),
    ),
    "review-request": (
        Variant("La sua opinione sull'ordine {order}", (
            "il suo ordine {order} dovrebbe esserle arrivato.",
            "Se ha un momento, ci farebbe piacere se condividesse la sua esperienza con il prodotto lasciando una "
            "recensione su Amazon. Le recensioni aiutano gli altri clienti nella scelta.",
            "Può scrivere la recensione da «I miei ordini» nel suo account Amazon.",
        )),
        Variant("Ordine {order}: come si trova con il suo articolo?", (
            "qualche giorno fa ha ricevuto «{product}».",
            "Se lo desidera, può lasciare una recensione del prodotto su Amazon, qualunque sia la sua impressione. "
            "Un parere sincero ci aiuta a migliorare.",
        )),
    ),
    "delivery-scheduling": (
        Variant("Appuntamento per la consegna del suo ordine {order}", (
            "il suo ordine {order} («{product}») sarà consegnato da un corriere espresso su pallet, quindi "
            "dobbiamo fissare con lei un appuntamento per la consegna.",
            "Il corriere può consegnare il {date} o il {date2}, tra le 8 e le 17. Ci indichi quale giorno "
            "preferisce e se ci sarà qualcuno presente.",
        )),
        Variant("Consegna dell'ordine {order}: fascia oraria", (
            "per la consegna del suo ordine {order} abbiamo bisogno di concordare una fascia oraria. Il collo pesa "
            "circa 80 kg.",
            "Fasce disponibili: {date} mattina oppure {date2} pomeriggio. Quale preferisce? Basta una breve "
            "risposta a questo messaggio.",
        )),
    ),
    "customization": (
        Variant("Incisione del suo ordine {order}", (
            "grazie per il suo ordine {order}. Prima di incidere «{product}» vorremmo confermare il testo con lei.",
            "Ha indicato il seguente testo dell'incisione: «{engraving}». Ci confermi l'ortografia o ci indichi la "
            "modifica desiderata. La produzione inizia solo dopo la sua conferma.",
        )),
        Variant("Bozza grafica del suo ordine personalizzato {order}", (
            "in allegato trova la bozza grafica della sua personalizzazione. Controlli testo, carattere e "
            "impaginazione.",
            "Se va tutto bene, basta rispondere «approvato». Siamo felici di apportare modifiche.",
        )),
    ),
    "address-problem": (
        Variant("Indirizzo di consegna dell'ordine {order}", (
            "preparando il suo ordine {order} abbiamo notato che nell'indirizzo di consegna manca il numero "
            "civico:",
            "[address]",
            "Ci comunichi l'indirizzo completo, così il pacco potrà essere consegnato.",
        )),
        Variant("Ordine {order}: consegna non riuscita", (
            "il corriere non è riuscito a consegnare il pacco dell'ordine {order}: il destinatario risulta "
            "sconosciuto all'indirizzo indicato e il pacco sta tornando da noi.",
            "Verifichi l'indirizzo e ci dica se dobbiamo spedirlo altrove.",
        )),
        Variant("Domanda sull'indirizzo – ordine {order}", (
            "il suo ordine {order} deve essere consegnato a questo indirizzo:",
            "[address]",
            "Il CAP {postcode} però non corrisponde alla città di {city}. Controlli i dati prima che affidiamo il "
            "pacco al corriere.",
        )),
    ),
    "order-problem": (
        Variant("Ritardo del suo ordine {order}", (
            "purtroppo la spedizione del suo ordine {order} è in ritardo perché il fornitore consegna «{product}» "
            "più tardi del previsto.",
            "Prevediamo di spedire il {date}. Se preferisce annullare, risponda a questo messaggio: "
            "l'annullamento è gratuito.",
        )),
    ),
    "order-confirmation": (
        Variant("Conferma d'ordine – ordine {order}", (
            "grazie per il suo ordine! Confermiamo la ricezione dell'ordine {order} del {date}.",
            "[table]",
            "[address]",
            "Riceverà una conferma di spedizione non appena la merce lascerà il nostro magazzino.",
        )),
    ),
    "shipping-confirmation": (
        Variant("Il suo ordine {order} è stato spedito", (
            "buone notizie: il suo ordine {order} ha lasciato oggi il nostro magazzino ed è stato affidato a "
            "{carrier}.",
            "[table]",
            "Numero di tracking: {tn}\nSegui la spedizione: [tracking]",
        )),
        Variant("Il suo pacco {order} è in viaggio", (
            "Il suo pacco è in viaggio! Può seguirlo qui: [tracking]",
            "[address]",
        )),
    ),
    "thank-you": (
        Variant("Grazie per il suo acquisto!", (
            "grazie di cuore per il suo ordine {order} e per la fiducia.",
            "Speriamo che l'articolo le piaccia. Per qualsiasi domanda o problema non esiti a contattarci.",
        )),
        Variant("Grazie – ordine {order}", (
            "volevamo semplicemente ringraziarla! Per una piccola azienda di famiglia ogni ordine è importante.",
            "Restiamo a disposizione per qualsiasi domanda sul suo ordine {order}.",
        )),
    ),
    "out-of-stock": (
        Variant("Ordine {order}: articolo esaurito", (
            "purtroppo l'articolo «{product}» del suo ordine {order} è al momento esaurito. Il fornitore prevede "
            "un nuovo arrivo il {date}.",
            "Spediremo l'ordine appena la merce sarà disponibile. Grazie per la comprensione.",
        )),
    ),
    "promotion": (
        Variant("Solo questa settimana: -20% su tutto", (
            "come cliente di {shop} (ordine {order}) non vogliamo che perda i nostri saldi invernali.",
            "Fino a domenica 20% di sconto su tutti gli articoli con il codice sconto {code}. Scopra le nostre "
            "novità!",
        )),
    ),
}

SNIPPETS: dict[str, tuple[str, ...]] = {
    "coupon": ("Per ringraziarla le offriamo uno sconto del 10% sul prossimo ordine con il codice sconto {code}.",
               "Con il buono sconto {code} risparmia 5 € sul prossimo acquisto."),
    "shop-link": ("Visiti il nostro negozio online: https://www.{domain}/",),
    "spelled-link": ("Trova tutto il nostro catalogo su www punto {domain_spelled} punto it.",),
    "seller-phone": ("Per qualsiasi domanda ci chiami allo 055 123 4567.",),
    "seller-email": ("Ci scriva pure a ordini@{domain}.",),
    "messenger": ("Per una risposta veloce ci scriva su WhatsApp al 347 123 4567.",),
    "contact-request": ("Ci può inviare il suo numero di telefono, così il corriere potrà contattarla?",),
    "review-positive": ("Una recensione positiva su Amazon ci farebbe molto piacere!",
                        "Se potesse lasciarci 5 stelle aiuterebbe tantissimo la nostra piccola bottega."),
    "review-incentive": ("Lasci una recensione e le invieremo in regalo un buono regalo da 10 €.",),
    "review-satisfied": ("Se è soddisfatto, ci lasci una recensione. Se non è soddisfatto, ci contatti prima di "
                         "lasciare una valutazione.",),
    "review-change": ("Ora che abbiamo risolto, potrebbe modificare o rimuovere la sua recensione negativa?",),
    "cross-sell": ("Scopra i nostri altri prodotti della stessa linea, perfetti con il suo acquisto.",),
    "optout": ("Non vuole più ricevere le nostre e-mail? Disiscriviti qui: https://www.{domain}/newsletter",),
    "emoji": ("Buon divertimento! 😊", "Il pacco è quasi arrivato 📦"),
    "manufacturer-hotline": (
        "Per domande tecniche e assistenza in garanzia si rivolga direttamente al produttore. Il numero verde "
        "del produttore è attivo dal lunedì al venerdì dalle 9 alle 18: 800 123 456.",
    ),
    "carrier-phone": ("Il corriere la chiamerà il giorno prima della consegna; può contattare il corriere anche "
                      "allo 02 3033 1122.",),
}

QUESTIONS = (
    ("Buongiorno, la moka va bene anche sul piano a induzione?",
     "la moka in alluminio non funziona sul piano a induzione; può usare un disco adattatore oppure la versione "
     "in acciaio inox dello stesso modello."),
    ("La tovaglia si può lavare a 60 gradi?",
     "le consigliamo il lavaggio a 40 gradi: a 60 gradi il lino può restringersi fino al 5%. La stiri ancora "
     "leggermente umida."),
    ("Il pacco è fermo da 4 giorni, cosa succede?",
     "abbiamo verificato con {carrier}: il pacco era stato smistato male ed è di nuovo in viaggio. La consegna è "
     "prevista il {date}. Tracking: [tracking]"),
)

LOCALE = Locale(
    lang="it", tag="it-IT", marketplace="it", order_prefixes=("402", "403", "404", "405", "406", "408", "171"),
    money=money, vat_rate=0.22, vat_label="di cui IVA {rate}%: {amount}",
    words={"order": "Numero ordine", "invoice": "Fattura", "pos": "Pos.", "item": "Articolo", "sku": "Cod.",
           "qty": "Q.tà", "price": "Prezzo unit.", "sum": "Importo", "subtotal": "Subtotale",
           "shipping": "Spedizione", "total": "Totale", "ship_to": "Indirizzo di consegna",
           "attachment": "Fattura", "tracking": "Segui la spedizione", "ean": "EAN", "country": "Italia",
           "terms": "Condizioni_di_vendita", "label": "Etichetta_reso", "proof": "Bozza", "from": "Da",
           "question_subject": "La sua domanda sull'ordine", "unsubscribe": "Annulla l'iscrizione",
           "engraving": "A nonno Piero, 80 anni di sorrisi"},
    salutations=("Gentile {title} {last},", "Buongiorno {first},", "Gentile cliente,", "Ciao {first},",
                 "Buongiorno,"),
    buyers=(("Signora", "Giulia", "Ferrari"), ("Signor", "Alessandro", "Esposito"), ("Signora", "Chiara", "Romano"),
            ("Signor", "Matteo", "Colombo"), ("Signora", "Francesca", "Ricci"), ("Signor", "Davide", "Marino")),
    closings=("Cordiali saluti", "Distinti saluti", "Un caro saluto", "A presto"),
    shops=SHOPS, products=PRODUCTS, addresses=ADDRESSES, carriers=CARRIERS, date=date,
    texts=TEXTS, snippets=SNIPPETS, charsets=("utf-8", "iso-8859-15", "windows-1252"),
    questions=QUESTIONS, quote_header="-----Messaggio originale-----", reply_prefix="R:", keyword=None,
    hard_products=HARD,
)
