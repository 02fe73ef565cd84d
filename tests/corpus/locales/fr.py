"""French (amazon.fr): PrestaShop-, Shopware- and JTL-style templates of French sellers."""

from __future__ import annotations

from tests.corpus.model import Carrier, Locale, Shop, Variant

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


def money(x: float) -> str:
    whole, frac = f"{x:,.2f}".split(".")
    nbsp = "\u00a0"
    return whole.replace(",", nbsp) + "," + frac + nbsp + "€"


def date(y: int, m: int, d: int) -> str:
    return f"{'1er' if d == 1 else d} {MONTHS[m - 1]} {y}"


SHOPS = (
    Shop("Atelier Lumière", "atelier-lumiere.fr", "commandes",
         ("Atelier Lumière SAS au capital de 20 000 € · 14 rue des Tanneurs · 69005 Lyon",
          "RCS Lyon 812 345 678 · SIRET 812 345 678 00021 · TVA intracommunautaire FR 47 812345678 · APE 4759A"),
         ("Tél. 04 78 12 34 56 · contact@atelier-lumiere.fr · www.atelier-lumiere.fr",),
         "Shopware", "L'équipe Atelier Lumière"),
    Shop("Maison Berthier", "maison-berthier.fr", "service-client",
         ("Maison Berthier SARL · 3 place du Marché · 21200 Beaune",
          "RCS Dijon 530 218 447 · SIRET 530 218 447 00015 · N° TVA FR 12 530218447"),
         ("Service client : 03 80 22 45 10 · service-client@maison-berthier.fr",),
         "JTL-Wawi", "Claire Berthier"),
    Shop("Cycles Dubois", "cycles-dubois.fr", "atelier",
         ("Cycles Dubois EURL · 56 avenue Jean Jaurès · 44000 Nantes",
          "SIREN 401 556 902 · RCS Nantes · TVA FR 83 401556902"),
         ("Appelez-nous au 02 40 48 11 22 · atelier@cycles-dubois.fr",),
         "Plentymarkets", "Julien, Cycles Dubois"),
    Shop("Jardins de Provence", "jardins-de-provence.fr", "boutique",
         ("Jardins de Provence SAS · ZA des Paluds, 180 avenue du Garlaban · 13400 Aubagne",
          "RCS Marseille 789 004 311 · SIRET 789 004 311 00028 · TVA FR 61 789004311",
          "Identifiant unique REP emballages ménagers FR123456_01ABCD"),
         ("Tél. 04 42 70 33 90 · boutique@jardins-de-provence.fr",),
         "Afterbuy", "Le service client Jardins de Provence"),
)

PRODUCTS = (
    ("Planche à découper chêne massif 40 x 25 cm", 42.90), ("Lampe de chevet en laiton, abat-jour lin", 89.00),
    ("Nappe en lin lavé 150 x 250 cm, terracotta", 69.00), ("Carafe en verre soufflé 1 L", 29.50),
    ("Chaîne vélo 11 vitesses 116 maillons", 31.90), ("Plaquettes de frein à disque (2 paires)", 18.90),
    ("Jardinière en terre cuite 60 cm", 38.00), ("Sécateur de jardin professionnel", 27.90),
    ("Coffret thé vert bio 12 sachets", 14.50), ("Armoire en pin massif 3 portes", 649.00),
    ("Canapé d'angle velours côtelé", 1190.00), ("Chargeur USB-C 65 W", 32.99),
)
HARD = (("Oreiller hôtel 5 étoiles 60 x 60 cm", 44.90), ("Couette « Cinq Étoiles » 240 x 260 cm", 119.00),
        ("Carnet d'avis et d'évaluation pour enseignants", 7.90))

ADDRESSES = (("12 rue de la République", "69002", "Lyon"), ("5 allée des Tilleuls", "33000", "Bordeaux"),
             ("27 boulevard Voltaire", "75011", "Paris"), ("8 impasse des Lilas", "31200", "Toulouse"),
             ("3 place Kléber", "67000", "Strasbourg"), ("41 quai de la Fosse", "44000", "Nantes"))

CARRIERS = (
    Carrier("Colissimo", "https://www.laposte.fr/outils/suivre-vos-envois?code={tn}", "6A99999999999"),
    Carrier("Chronopost", "https://www.chronopost.fr/tracking-no-cms/suivi-page?listeNumerosLT={tn}",
            "XA999999999FR"),
    Carrier("Mondial Relay", "https://www.mondialrelay.fr/suivi-de-colis/?NumeroExpedition={tn}", "99999999"),
    Carrier("DPD", "https://trace.dpd.fr/fr/trace/{tn}", "250999999999999"),
)

TEXTS: dict[str, tuple[Variant, ...]] = {
    "invoice": (
        Variant("Votre facture {invoice_no} pour la commande Amazon {order}", (
            "Nous vous remercions pour votre commande chez {shop}. Vous trouverez ci-joint la facture "
            "{invoice_no} de votre commande Amazon {order} au format PDF.",
            "[table]",
            "La facture mentionne la TVA et peut être conservée pour votre comptabilité.",
        )),
        Variant("Facture de votre commande {order}", (
            "Suite à votre demande, voici la facture de votre commande {order} du {date}.",
            "[table]",
            "[address]",
            "Conservez-la précieusement : elle vous servira de justificatif pour la garantie.",
        )),
        Variant("Facture {invoice_no} – commande {order}", (
            "Vous avez demandé une facture via Amazon. Elle est jointe à ce message (PDF).",
            "Numéro de commande : {order}\nNuméro de facture : {invoice_no}\nDate : {date}",
            "[table]",
        )),
    ),
    "return": (
        Variant("Votre retour pour la commande {order}", (
            "Votre retour nous est parvenu aujourd'hui et a été contrôlé. L'article est en parfait état ; nous "
            "avons effectué le remboursement de {amount} via Amazon.",
            "Selon votre moyen de paiement, le remboursement apparaîtra sous 3 à 5 jours ouvrés.",
        )),
        Variant("Étiquette de retour – commande {order}", (
            "Vous avez demandé le retour de l'article « {product} » de la commande {order}. Vous trouverez en "
            "pièce jointe l'étiquette de retour {carrier} prépayée ; imprimez-la et collez-la sur le colis.",
            "Le remboursement sera effectué dès réception et contrôle de l'article.",
        )),
        Variant("Remboursement de votre commande {order}", (
            "Nous sommes désolés que l'article « {product} » soit arrivé endommagé. Inutile de le renvoyer : nous "
            "vous avons remboursé {amount} via Amazon.",
            "Nous avons signalé l'avarie au transporteur.",
        )),
    ),
    "review-request": (
        Variant("Votre avis sur la commande {order}", (
            "Votre commande {order} a dû vous parvenir.",
            "Si vous avez un moment, nous serions heureux que vous partagiez votre expérience avec ce produit en "
            "laissant un avis sur Amazon. Les avis aident les autres clients à faire leur choix.",
            "Vous pouvez déposer votre avis depuis « Vos commandes » dans votre compte Amazon.",
        )),
        Variant("Commande {order} : que pensez-vous de votre article ?", (
            "Vous avez reçu « {product} » il y a quelques jours.",
            "Si vous le souhaitez, vous pouvez évaluer le produit sur Amazon, quelle que soit votre impression. "
            "Un avis sincère nous aide à améliorer notre offre.",
        )),
    ),
    "delivery-scheduling": (
        Variant("Rendez-vous de livraison pour votre commande {order}", (
            "Votre commande {order} (« {product} ») sera livrée par un transporteur messagerie. Nous devons donc "
            "convenir avec vous d'un rendez-vous de livraison.",
            "Le transporteur peut passer le {date} ou le {date2}, entre 8 h et 17 h. Merci de nous indiquer le "
            "jour qui vous convient et si quelqu'un sera présent pour réceptionner.",
        )),
        Variant("Livraison de votre commande {order} : choix du créneau", (
            "Pour la livraison de votre commande {order}, nous avons besoin d'un créneau. Le colis pèse environ "
            "70 kg et sera livré sur palette.",
            "Créneaux possibles : {date} le matin ou {date2} l'après-midi. Lequel préférez-vous ? Une réponse "
            "courte à ce message suffit.",
        )),
    ),
    "customization": (
        Variant("Gravure de votre commande {order}", (
            "Merci pour votre commande {order}. Avant de graver « {product} », nous souhaitons valider le texte "
            "avec vous.",
            "Vous avez indiqué le texte suivant : « {engraving} ». Merci de confirmer l'orthographe ou de nous "
            "indiquer la modification souhaitée. La fabrication ne démarre qu'après votre validation.",
        )),
        Variant("Bon à tirer pour votre commande personnalisée {order}", (
            "Vous trouverez ci-joint le bon à tirer de votre personnalisation. Merci de vérifier le texte, la "
            "police et la mise en page.",
            "Si tout est correct, répondez simplement « validé ». Nous effectuerons volontiers les modifications.",
        )),
    ),
    "address-problem": (
        Variant("Adresse de livraison de votre commande {order}", (
            "En préparant votre commande {order}, nous avons remarqué que le numéro de rue manque dans l'adresse "
            "de livraison :",
            "[address]",
            "Merci de nous indiquer l'adresse complète afin que le colis puisse être livré.",
        )),
        Variant("Commande {order} : livraison impossible", (
            "Le transporteur n'a pas pu livrer votre colis (commande {order}) : le destinataire est inconnu à "
            "l'adresse indiquée et le colis nous est retourné.",
            "Pourriez-vous vérifier l'adresse et nous dire si nous devons l'expédier ailleurs ?",
        )),
        Variant("Question sur l'adresse – commande {order}", (
            "Votre commande {order} doit être livrée à l'adresse suivante :",
            "[address]",
            "Le code postal {postcode} ne correspond pas à la ville de {city}. Merci de vérifier avant que nous "
            "remettions le colis au transporteur.",
        )),
    ),
    "order-problem": (
        Variant("Retard de votre commande {order}", (
            "L'expédition de votre commande {order} est malheureusement retardée : notre fournisseur livre "
            "« {product} » plus tard que prévu.",
            "Nous prévoyons désormais l'envoi le {date}. Si vous préférez annuler, répondez simplement à ce "
            "message ; l'annulation est gratuite.",
        )),
        Variant("Commande {order} : colis endommagé", (
            "{carrier} nous a informés que votre colis (commande {order}) a été endommagé en agence et ne sera pas "
            "livré.",
            "Nous vous avons envoyé un remplacement gratuit aujourd'hui. Suivi : [tracking]",
        )),
    ),
    "order-confirmation": (
        Variant("Confirmation de votre commande {order}", (
            "Merci pour votre commande ! Nous confirmons la réception de votre commande {order} du {date}.",
            "[table]",
            "[address]",
            "Vous recevrez une confirmation d'expédition dès que vos articles quitteront notre entrepôt.",
        )),
        Variant("Nous avons bien reçu votre commande {order}", (
            "Votre commande est en cours de préparation. Récapitulatif :",
            "[table]",
            "Nos conditions générales de vente sont jointes.",
        )),
    ),
    "shipping-confirmation": (
        Variant("Votre commande {order} a été expédiée", (
            "Bonne nouvelle : votre commande {order} a quitté notre entrepôt aujourd'hui et a été remise à "
            "{carrier}.",
            "[table]",
            "Numéro de suivi : {tn}\nSuivre votre colis : [tracking]",
            "Livraison prévue : {date}",
        )),
        Variant("Votre colis {order} est en route", (
            "Votre colis est en route ! Suivez-le ici : [tracking]",
            "[address]",
        )),
    ),
    "thank-you": (
        Variant("Merci pour votre achat !", (
            "Un grand merci pour votre commande {order} et pour votre confiance.",
            "Nous espérons que votre article vous plaira. Si vous avez des questions ou le moindre problème, "
            "n'hésitez pas à nous contacter.",
        )),
        Variant("Merci – commande {order}", (
            "Nous tenions simplement à vous remercier ! Pour une petite entreprise familiale comme la nôtre, chaque "
            "commande compte.",
            "Nous restons à votre disposition pour toute question concernant votre commande {order}.",
        )),
    ),
    "out-of-stock": (
        Variant("Commande {order} : article en rupture de stock", (
            "Malheureusement, l'article « {product} » de votre commande {order} est actuellement en rupture de "
            "stock. Notre fournisseur annonce un réassort pour le {date}.",
            "Nous expédierons votre commande dès réception. Merci de votre compréhension.",
        )),
        Variant("Disponibilité de votre article – commande {order}", (
            "« {product} » est momentanément épuisé. Nous l'avons recommandé et reviendrons vers vous dès son "
            "retour en stock.",
        )),
    ),
    "promotion": (
        Variant("Cette semaine seulement : -20 % sur tout le site", (
            "En tant que client(e) de {shop} (commande {order}), profitez de nos soldes d'hiver.",
            "Jusqu'à dimanche, 20 % de réduction sur tous les articles avec le code promo {code}. Découvrez nos "
            "nouveautés dès maintenant.",
        )),
    ),
}

SNIPPETS: dict[str, tuple[str, ...]] = {
    "coupon": ("Pour vous remercier, profitez de 10 % de réduction sur votre prochaine commande avec le code "
               "promo {code}.",
               "Avec le bon de réduction {code}, économisez 5 € sur votre prochain achat."),
    "shop-link": ("Visitez notre boutique en ligne : https://www.{domain}/",
                  "Découvrez notre atelier : https://{domain}/notre-histoire"),
    "spelled-link": ("Retrouvez toute notre gamme sur www point {domain_spelled} point fr.",),
    "seller-phone": ("Pour toute question, appelez-nous au 04 78 12 34 56 (du lundi au vendredi).",),
    "seller-email": ("Écrivez-nous simplement à contact@{domain}.",),
    "messenger": ("Pour une réponse rapide, écrivez-nous sur WhatsApp au 06 12 34 56 78.",),
    "contact-request": ("Merci de nous communiquer votre numéro de téléphone pour que le livreur puisse vous "
                        "joindre.",),
    "review-positive": ("Un avis positif sur Amazon nous ferait très plaisir !",
                        "Si vous pouviez nous laisser 5 étoiles, cela aiderait beaucoup notre petite entreprise."),
    "review-incentive": ("Laissez un avis sur Amazon et recevez une carte cadeau de 10 € en remerciement.",),
    "review-satisfied": ("Si vous êtes satisfait, laissez-nous un avis. Sinon, contactez-nous d'abord avant de "
                         "laisser une évaluation.",),
    "review-change": ("Maintenant que le problème est réglé, pourriez-vous modifier ou supprimer votre avis "
                      "négatif ?",),
    "cross-sell": ("Découvrez nos autres produits de la même collection, ils se marient parfaitement avec votre "
                   "achat.",),
    "optout": ("Vous ne souhaitez plus recevoir nos e-mails ? Désabonnez-vous ici : https://www.{domain}/desinscription",),
    "emoji": ("Bonne utilisation ! 😊", "Votre colis arrive bientôt 📦"),
    "manufacturer-hotline": (
        "Pour toute question technique ou garantie, veuillez contacter directement le service après-vente du "
        "fabricant. La hotline gratuite du fabricant est joignable du lundi au vendredi de 8 h à 19 h au "
        "0 800 94 12 34.",
    ),
    "carrier-phone": ("Le transporteur vous appellera la veille de la livraison. Vous pouvez aussi joindre le "
                      "transporteur au 09 69 39 11 22.",),
}

QUESTIONS = (
    ("Bonjour, la lampe est-elle compatible avec une ampoule LED E27 ?",
     "oui, la lampe accepte toutes les ampoules E27, y compris les LED jusqu'à 12 W. Nous recommandons une "
     "température de couleur de 2700 K pour une lumière chaude."),
    ("Peut-on laver la nappe à 60 degrés ?",
     "nous conseillons un lavage à 40 degrés : à 60 degrés, le lin peut rétrécir jusqu'à 5 %. Repassez-la "
     "légèrement humide."),
    ("Mon colis n'avance plus depuis 4 jours, que se passe-t-il ?",
     "nous avons contacté {carrier} : le colis avait été mal trié et il est de nouveau en route. La livraison "
     "est prévue le {date}. Suivi : [tracking]"),
    ("Je voudrais retourner la carafe, comment faire ?",
     "vous pouvez déclarer le retour dans votre compte Amazon, rubrique « Vos commandes ». L'étiquette de retour "
     "y est disponible et le remboursement sera effectué à réception."),
)

LOCALE = Locale(
    lang="fr", tag="fr-FR", marketplace="fr", order_prefixes=("402", "403", "404", "405", "406", "407", "171"),
    money=money, vat_rate=0.20, vat_label="dont TVA {rate} % : {amount}",
    words={"order": "N° de commande", "invoice": "Facture", "pos": "N°", "item": "Article", "sku": "Réf.",
           "qty": "Qté", "price": "Prix unitaire", "sum": "Total", "subtotal": "Sous-total",
           "shipping": "Frais de port", "total": "Total TTC", "ship_to": "Adresse de livraison",
           "attachment": "Facture", "tracking": "Suivre mon colis", "ean": "EAN", "country": "France",
           "terms": "CGV", "label": "Etiquette_retour", "proof": "BAT", "from": "De",
           "question_subject": "Votre question sur la commande", "unsubscribe": "Se désabonner",
           "engraving": "Pour Mamie Jeanne – 90 ans"},
    salutations=("Bonjour {title} {last},", "Bonjour {first},", "Chère cliente, cher client,",
                 "{title} {last},", "Bonjour,"),
    buyers=(("Madame", "Camille", "Lefèvre"), ("Monsieur", "Nicolas", "Moreau"), ("Madame", "Inès", "Benali"),
            ("Monsieur", "François", "Girard"), ("Madame", "Élodie", "Rousseau"), ("Monsieur", "Thomas", "Faure")),
    closings=("Cordialement", "Bien cordialement", "Bien à vous", "Avec nos salutations distinguées"),
    shops=SHOPS, products=PRODUCTS, addresses=ADDRESSES, carriers=CARRIERS, date=date,
    texts=TEXTS, snippets=SNIPPETS, charsets=("utf-8", "iso-8859-15", "iso-8859-1", "windows-1252"),
    questions=QUESTIONS, quote_header="-----Message d'origine-----", reply_prefix="RE :", keyword=None,
    hard_products=HARD,
)
