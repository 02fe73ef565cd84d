"""English: amazon.com (Shopify, Outlook, Billbee-style US sellers) and amazon.co.uk (Linnworks-like UK shops)."""

from __future__ import annotations

from tests.corpus.model import Carrier, Locale, Shop, Variant

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def usd(x: float) -> str:
    return f"${x:,.2f}"


def gbp(x: float) -> str:
    return f"£{x:,.2f}"


def date_us(y: int, m: int, d: int) -> str:
    return f"{MONTHS[m - 1]} {d}, {y}"


def date_uk(y: int, m: int, d: int) -> str:
    return f"{d} {MONTHS[m - 1]} {y}"


US_SHOPS = (
    Shop("Cedar & Pine Goods", "cedarandpinegoods.com", "orders",
         ("Cedar & Pine Goods LLC · 418 W Main St, Suite 200 · Bozeman, MT 59715",),
         ("Questions? Call us at (406) 555-0148 or email support@cedarandpinegoods.com",
          "www.cedarandpinegoods.com"),
         "Shopify", "The Cedar & Pine team"),
    Shop("Brightline Electronics", "brightline-electronics.com", "support",
         ("Brightline Electronics Inc. | 2200 Commerce Pkwy | Carrollton, TX 75006",
          "Texas Sales Tax Permit 3-20419-8837-6"),
         ("Customer care: 1-800-555-0199 | help@brightline-electronics.com",),
         "Outlook", "Megan Ortiz, Customer Care"),
    Shop("Harbor Kitchen Supply", "harborkitchensupply.com", "info",
         ("Harbor Kitchen Supply Co. · 77 Water Street · Portland, ME 04101",),
         ("Tel. 207-555-0112 · info@harborkitchensupply.com · harborkitchensupply.com",),
         "Billbee", "Harbor Kitchen Supply"),
    Shop("Summit Outdoor Outfitters", "summit-outfitters.com", "service",
         ("Summit Outdoor Outfitters, Inc. · 9050 Pine Ridge Rd · Boulder, CO 80301",),
         ("Phone (303) 555-0177 | service@summit-outfitters.com",),
         "Shopify", "Your Summit Outfitters team"),
)

UK_SHOPS = (
    Shop("Hartley & Finch", "hartleyandfinch.co.uk", "orders",
         ("Hartley & Finch Ltd, Unit 4, Riverside Business Park, Leeds LS10 1AB",
          "Registered in England and Wales, Company No. 09876543 · VAT Reg. No. GB 294 7710 38"),
         ("Tel: 0113 496 0521 · orders@hartleyandfinch.co.uk · www.hartleyandfinch.co.uk",),
         "JTL-Wawi", "Sarah at Hartley & Finch"),
    Shop("Thistle Home Textiles", "thistlehome.co.uk", "hello",
         ("Thistle Home Textiles Ltd · 12 Candleriggs · Glasgow G1 1LD",
          "Registered in Scotland SC612874 · VAT No. GB 318 2256 90"),
         ("Call 0141 496 0873 or email hello@thistlehome.co.uk",),
         "Shopware", "The Thistle Home team"),
    Shop("Cotswold Garden Co.", "cotswoldgardenco.co.uk", "sales",
         ("Cotswold Garden Co. Ltd, Old Station Yard, Moreton-in-Marsh GL56 0AA",
          "Company registration 11204578 (England & Wales) · VAT GB 301 4467 21",
          "WEEE producer registration WEE/JK4321TZ"),
         ("Telephone 01608 496 021 · sales@cotswoldgardenco.co.uk",),
         "Afterbuy", "Tom Ellery"),
    Shop("Northern Cycle Parts", "northerncycleparts.co.uk", "dispatch",
         ("Northern Cycle Parts Ltd · 3 Mill Lane · Kendal LA9 4RT",
          "Registered office as above · Company No. 08123456 · VAT Registration GB 145 8832 07"),
         ("Workshop: 01539 496 330 · dispatch@northerncycleparts.co.uk",),
         "Plentymarkets", "Northern Cycle Parts"),
)

US_PRODUCTS = (
    ("Cast Iron Skillet 12-inch, Pre-Seasoned", 39.95), ("Walnut Cutting Board 18 x 12 in", 64.00),
    ("USB-C Charger 65W, 2-Port", 29.99), ("Bluetooth Speaker Waterproof IPX7", 49.99),
    ("Trekking Poles Carbon (Pair)", 89.00), ("Insulated Water Bottle 32 oz", 27.50),
    ("Chef's Knife 8-inch, German Steel", 74.95), ("Queen Duvet Cover Set, Linen, Sage", 129.00),
    ("LED Headlamp 400 Lumens Rechargeable", 24.99), ("Standing Desk Frame, Dual Motor", 319.00),
    ("Camping Hammock Double with Straps", 34.99), ("Dutch Oven Enameled 6 qt", 94.00),
)
US_HARD = (("Five Star Hotel Pillow, Queen (2-Pack)", 54.99), ("5-Star Review Camping Chair \"Summit Classic\"", 59.00),
           ("Coupon Organizer Wallet, Leather", 19.99), ("Positive Vibes Wall Art Print 16 x 20", 22.00))
UK_PRODUCTS = (
    ("Oak Chopping Board 40 x 25 cm", 32.00), ("Wool Throw, Heather Grey, 130 x 180 cm", 59.00),
    ("Linen Tea Towels, Set of 3", 18.50), ("Raised Garden Bed Larch 150 x 80 cm", 165.00),
    ("Secateurs Bypass Professional", 24.99), ("Bike Chain 11-Speed 116 Links", 29.50),
    ("Disc Brake Pads Organic (2 Pairs)", 15.80), ("Bird Feeder Station, Cast Iron", 44.95),
    ("Merino Bed Socks, Size 6-8", 12.00), ("Wardrobe Solid Pine, 3-Door", 589.00),
)
UK_HARD = (("5 Star Hotel Collection Pillow Pair", 34.99), ("Five-Star Luxury Duvet 13.5 tog, King", 69.00),
           ("Feedback Pedal Guitar Effect \"Review Mk II\"", 49.00))

US_ADDRESSES = (("1420 Oak Ave Apt 3B", "60201", "Evanston, IL"), ("88 Harbor View Dr", "98101", "Seattle, WA"),
                ("5012 Elm Street", "30307", "Atlanta, GA"), ("230 Beacon St Unit 5", "02116", "Boston, MA"),
                ("7719 Sunset Blvd", "90046", "Los Angeles, CA"), ("19 Maple Ct", "55410", "Minneapolis, MN"))
UK_ADDRESSES = (("14 Rosemary Lane", "YO1 7JX", "York"), ("Flat 2, 33 Albert Road", "BS2 0XS", "Bristol"),
                ("7 Mill Street", "OX2 0AL", "Oxford"), ("121 Queen's Drive", "G42 8DD", "Glasgow"),
                ("5 The Green", "CB1 2AB", "Cambridge"), ("46 Harrow Road", "W2 1XX", "London"))

US_CARRIERS = (
    Carrier("UPS", "https://www.ups.com/track?tracknum={tn}", "1Z9999A99999999999"),
    Carrier("USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels={tn}", "9400199999999999999999"),
    Carrier("FedEx", "https://www.fedex.com/fedextrack/?trknbr={tn}", "999999999999"),
)
UK_CARRIERS = (
    Carrier("Royal Mail", "https://www.royalmail.com/track-your-item#/tracking-results/{tn}", "AA999999999GB"),
    Carrier("DPD", "https://track.dpd.co.uk/parcels/{tn}", "15999999999999"),
    Carrier("Evri", "https://www.evri.com/track/parcel/{tn}", "H0999A9999999999"),
    Carrier("Parcelforce", "https://www.parcelforce.com/track-trace?trackNumber={tn}", "AA9999999"),
)


def texts(shipping_word: str, color: str) -> dict[str, tuple[Variant, ...]]:
    return {
        "invoice": (
            Variant("Your invoice {invoice_no} for Amazon order {order}", (
                "Thank you for your order with {shop}. Please find attached the invoice {invoice_no} for your "
                "Amazon order {order} as a PDF.",
                "[table]",
                "The invoice shows the tax separately and can be used for your records.",
            )),
            Variant("Invoice for order {order}", (
                "As requested, here is the invoice for your order {order} placed on {date}.",
                "[table]",
                "[address]",
                "Please keep the invoice: it also serves as proof of purchase for the warranty.",
            )),
            Variant("Invoice {invoice_no} – Order {order}", (
                "You requested an invoice through Amazon. It is attached to this message (PDF).",
                "Order number: {order}\nInvoice number: {invoice_no}\nInvoice date: {date}",
                "[table]",
            )),
            Variant("Your VAT invoice from {shop} ({order})", (
                "Attached is the VAT invoice for your purchase. The invoice date is the date of supply.",
                "[table]",
                "Payment has already been taken by Amazon; there is nothing further you need to do.",
            )),
        ),
        "return": (
            Variant("Your return for order {order}", (
                "Your return arrived today and has been checked. The item is in perfect condition, so we have "
                "issued a refund of {amount} through Amazon.",
                "Depending on your payment method the refund will show on your statement within 3 to 5 business "
                "days.",
            )),
            Variant("Return label for order {order}", (
                "You requested a return for \"{product}\" from order {order}. The prepaid {carrier} return label is "
                "attached; please print it and stick it on the parcel.",
                "We will refund you as soon as the item is back with us and has been inspected.",
            )),
            Variant("Refund for your order {order}", (
                "We are sorry that \"{product}\" arrived damaged. There is no need to send it back: we have "
                "refunded {amount} through Amazon.",
                "We have reported the transit damage to the carrier.",
            )),
        ),
        "review-request": (
            Variant("Your experience with order {order}", (
                "Your order {order} should have arrived by now.",
                "If you have a moment, we would appreciate it if you shared your experience with the product in a "
                "review on Amazon. Reviews help other customers decide.",
                "You can write the review from \"Your Orders\" in your Amazon account.",
            )),
            Variant("Order {order}: how is your {product}?", (
                "A few days ago you received \"{product}\".",
                "If you have time, please leave a product review on Amazon, whatever your impression. Honest "
                "opinions help us improve what we sell.",
            )),
        ),
        "delivery-scheduling": (
            Variant("Scheduling the delivery of your order {order}", (
                "Your order {order} (\"{product}\") will be delivered by a freight carrier, so we need to schedule "
                "the delivery with you.",
                "The carrier can deliver on {date} or {date2}, between 8 am and 4 pm. Please let us know which day "
                "suits you and whether someone will be at home to sign.",
                "Delivery is kerbside; the driver cannot carry the item inside.",
            )),
            Variant("Delivery appointment for order {order}", (
                "To deliver your order {order} we need a delivery appointment. The item weighs about 190 lbs and "
                "arrives on a pallet.",
                "Available time slots: {date} morning or {date2} afternoon. Which delivery window works better "
                "for you? A short reply to this message is enough.",
            )),
        ),
        "customization": (
            Variant("Engraving for your order {order}", (
                "Thank you for your order {order}. Before we engrave \"{product}\", we would like to confirm the "
                "text with you.",
                "You entered the following engraving text: \"{engraving}\". Please confirm the spelling or send us "
                "the change you would like. We only start production once you approve.",
            )),
            Variant("Design proof for your personalized order {order}", (
                "Attached is the design proof for your personalization. Please check the text, the font and the "
                "layout.",
                "If everything is right, a short reply saying \"approved\" is enough. We are happy to make changes.",
            )),
            Variant("Order {order}: question about your artwork", (
                "The image you uploaded for \"{product}\" is low resolution. To print it sharply we need the file in "
                "a higher resolution (at least 300 dpi).",
                "Please upload the file as a reply to this message in Amazon's messaging.",
            )),
        ),
        "address-problem": (
            Variant("Shipping address for your order {order}", (
                "While preparing your order {order} we noticed that the house number is missing from the shipping "
                "address:",
                "[address]",
                "Please let us know the full address so that the parcel can be delivered.",
            )),
            Variant("Order {order}: delivery failed", (
                "The carrier could not deliver your parcel for order {order}: the recipient is unknown at the "
                "address given, and the parcel is on its way back to us.",
                "Please check the delivery address and tell us whether we should send it to a different address.",
            )),
            Variant("Question about the delivery address – order {order}", (
                "Your order {order} is due to go to this address:",
                "[address]",
                "However, the postcode {postcode} does not match {city}. Please check the details before we hand "
                "the parcel over.",
            )),
        ),
        "order-problem": (
            Variant("Delay with your order {order}", (
                "Unfortunately, the dispatch of your order {order} is delayed because our supplier is late with "
                "\"{product}\".",
                "We now expect to ship on {date}. If you would rather cancel, just reply to this message; the "
                "cancellation is free of charge.",
            )),
            Variant("Order {order}: your parcel was damaged in transit", (
                "{carrier} told us that your parcel for order {order} was damaged at their depot and will not be "
                "delivered.",
                "We sent a free replacement today. Tracking: [tracking]",
            )),
        ),
        "order-confirmation": (
            Variant("Order confirmation – your order {order}", (
                "Thank you for your order! This is to confirm that we have received your order {order} of {date}.",
                "[table]",
                "[address]",
                "You will receive a shipping confirmation as soon as your items leave our warehouse.",
            )),
            Variant("We have received your order {order}", (
                "Your order has been received and is being processed. Here is your summary:",
                "[table]",
                "Our terms and conditions are attached.",
            )),
        ),
        "shipping-confirmation": (
            Variant("Your order {order} has shipped", (
                "Good news: your order {order} left our warehouse today and has been handed to {carrier}.",
                "[table]",
                "Tracking number: {tn}\nTrack your package: [tracking]",
                "Estimated delivery: {date}",
            )),
            Variant("Your order {order} is on its way", (
                "Your parcel is on its way to you! You can follow it here: [tracking]",
                "[address]",
                "We hope you enjoy your new purchase.",
            )),
        ),
        "thank-you": (
            Variant("Thank you for your purchase!", (
                "Thank you so much for your order {order} and for choosing {shop}.",
                "We hope you enjoy your purchase. If you have any questions or problems, please don't hesitate "
                "to contact us.",
            )),
            Variant("A big thank you – order {order}", (
                "We just wanted to say thank you! As a small family business, every order means a lot to us.",
                "If there is anything we can help with regarding your order {order}, we are here for you.",
            )),
        ),
        "out-of-stock": (
            Variant("Order {order}: item currently out of stock", (
                "Unfortunately \"{product}\" from your order {order} is currently out of stock. Our supplier has "
                "announced the next delivery for {date}.",
                "We will ship your order as soon as the stock arrives. Thank you for your patience.",
            )),
            Variant("Stock update on your order {order}", (
                "\"{product}\" has sold out. We have reordered it and will get back to you as soon as it is back "
                "in stock.",
            )),
        ),
        "promotion": (
            Variant("This week only: 20% off everything", (
                "As a valued customer of {shop} (order {order}) we did not want you to miss our winter sale.",
                f"Until Sunday you get 20% off every item with the code {{code}}. Free {shipping_word} on every "
                f"order, and our new {color} collection is in store now.",
            )),
        ),
    }


SNIPPETS: dict[str, tuple[str, ...]] = {
    "coupon": ("As a thank-you, here is 10% off your next order with the coupon code {code}.",
               "Use the discount code {code} to save $5 on your next purchase."),
    "shop-link": ("Visit our online store: https://www.{domain}/", "More about us: https://{domain}/pages/about"),
    "spelled-link": ("Find our full range at www dot {domain_spelled} dot com.",),
    "seller-phone": ("If you have any questions, call us at (406) 555-0148, Mon–Fri 9–5.",
                     "Give us a ring on 0113 496 0521."),
    "seller-email": ("Just email us at support@{domain} with any questions.",),
    "messenger": ("For a quick answer, message us on WhatsApp at +1 406 555 0148.",
                  "You can also reach us on Telegram (@{handle})."),
    "contact-request": ("Please send us your phone number so the carrier can reach you.",
                        "Could you share your email address so we can send you the invoice directly?"),
    "review-positive": ("We would be thrilled if you could leave us a positive review on Amazon!",
                        "A 5-star review would mean the world to our small business."),
    "review-incentive": ("Leave a review and we will send you a $10 gift card as a thank-you.",
                         "Write an honest review and get your next item free."),
    "review-satisfied": ("If you are happy with your purchase, please leave a review. If you are not satisfied, "
                         "contact us first before leaving any feedback.",),
    "review-change": ("Now that we have sorted this out, would you be kind enough to remove or update your "
                      "negative review?",),
    "cross-sell": ("You may also like our other products from the same collection – check out our new arrivals.",
                   "The matching accessories are here: https://www.amazon.com/dp/B0C7KX2M4Q – grab them now!"),
    "optout": ("Don't want to receive these emails? Unsubscribe here: https://www.{domain}/unsubscribe",),
    "emoji": ("Enjoy! 😊", "Your parcel is almost there 📦🚚"),
    "manufacturer-hotline": (
        "For technical questions and warranty claims please contact the manufacturer directly. The "
        "manufacturer's free support line is open Monday to Friday, 8 am to 8 pm Eastern: 1-800-555-0123.",
        "Warranty note: the product carries a 3-year manufacturer warranty. Please register the device within "
        "30 days of purchase; for registration and all technical questions Voltmaster support is available on "
        "0800 046 1234.",
    ),
    "carrier-phone": ("The freight carrier will call you a day before delivery. You can also reach the carrier "
                      "yourself on 1-800-555-0166.",),
}

US_QUESTIONS = (
    ("Hi, does the charger work with a 2019 MacBook Pro? Thanks, Dan",
     "yes, the charger works with every USB-C MacBook Pro from 2016 on, including your 2019 model. It delivers "
     "the full 65 W on the upper port."),
    ("Can the skillet go in the dishwasher?",
     "please do not put the skillet in the dishwasher: it would remove the seasoning. Rinse it with hot water, dry "
     "it on the stove and rub in a few drops of oil."),
    ("My package has been stuck in transit for 5 days. What's going on?",
     "we checked with {carrier}: the parcel was missorted at the hub and is moving again since this morning. "
     "Delivery is now expected on {date}. You can see the status here: [tracking]"),
    ("I'd like to return the hammock, it's too small. How do I do that?",
     "you can start the return in your Amazon account under \"Your Orders\". You will get a free return label "
     "there, and the refund is issued once the item is back with us."),
)
UK_QUESTIONS = (
    ("Hello, can I wash the throw at 40 degrees?",
     "the throw is pure wool, so please wash it on a cold wool cycle (30 degrees at most) and dry it flat. At 40 "
     "degrees it may felt and shrink."),
    ("Will the chain fit a Shimano 105 groupset? Cheers, Ian",
     "yes, it is fully compatible with 11-speed Shimano 105 (R7000) and Ultegra. Shorten it to length with a "
     "chain tool and use the quick link included in the box."),
    ("The bird feeder arrived with a bent pole. Can you help?",
     "sorry to hear that. We have sent a replacement pole by {carrier} today; there is no need to return the bent "
     "one. Tracking: [tracking]"),
    ("Could you send me a VAT invoice with my company name? Ellery Design Ltd, 5 The Green, Cambridge CB1 2AB.",
     "of course: the VAT invoice with your company details is attached. We have cancelled the previous one."),
)

WORDS_US = {"order": "Order number", "invoice": "Invoice", "pos": "#", "item": "Item", "sku": "SKU", "qty": "Qty",
            "price": "Unit price", "sum": "Amount", "subtotal": "Subtotal", "shipping": "Shipping",
            "total": "Total", "ship_to": "Ship to", "attachment": "Invoice", "tracking": "Track your package",
            "ean": "UPC", "country": "United States", "terms": "Terms_and_Conditions", "label": "Return_Label",
            "proof": "Design_Proof", "from": "From", "question_subject": "Your question about order",
            "unsubscribe": "Unsubscribe", "engraving": "Happy 10th Anniversary, Jen & Mike"}
WORDS_UK = {**WORDS_US, "shipping": "Delivery", "ship_to": "Delivery address", "tracking": "Track your parcel",
            "ean": "EAN", "country": "United Kingdom", "engraving": "To Grandad, love from Alfie & Isla"}

US = Locale(
    lang="en", tag="en-US", marketplace="com", order_prefixes=("111", "112", "113", "114"),
    money=usd, vat_rate=0.0, vat_label="", words=WORDS_US,
    salutations=("Hi {first},", "Dear {first} {last},", "Hello {first},", "Dear {title} {last},", "Hello,"),
    buyers=(("Ms", "Jennifer", "Walsh"), ("Mr", "Daniel", "Kim"), ("Ms", "Maria", "Gonzalez"),
            ("Mr", "Tyler", "Brooks"), ("Ms", "Aisha", "Johnson"), ("Mr", "Robert", "O'Neill")),
    closings=("Best regards", "Kind regards", "Thanks again", "Sincerely", "Warm regards"),
    shops=US_SHOPS, products=US_PRODUCTS, addresses=US_ADDRESSES, carriers=US_CARRIERS, date=date_us,
    texts=texts("shipping", "fall"), snippets=SNIPPETS, charsets=("utf-8", "us-ascii", "windows-1252"),
    questions=US_QUESTIONS, quote_header="-----Original Message-----", reply_prefix="RE:", keyword="Important",
    hard_products=US_HARD,
)

GB_SNIPPETS = {**SNIPPETS,
               "coupon": ("As a thank-you, here is 10% off your next order with the voucher code {code}.",
                          "Use the discount code {code} to save £5 on your next purchase."),
               "messenger": ("For a quick answer, message us on WhatsApp on 07700 900461.",
                             "You can also reach us on Telegram (@{handle}).")}
GB = Locale(
    lang="en", tag="en-GB", marketplace="co.uk", order_prefixes=("202", "203", "204", "205", "206", "026"),
    money=gbp, vat_rate=0.20, vat_label="VAT @ {rate}% included: {amount}", words=WORDS_UK,
    salutations=("Dear {title} {last},", "Hello {first},", "Dear {first},", "Hi {first},", "Dear Customer,"),
    buyers=(("Mrs", "Emma", "Clarke"), ("Mr", "Oliver", "Hughes"), ("Ms", "Priya", "Patel"),
            ("Mr", "Callum", "MacLeod"), ("Mrs", "Siobhan", "Murphy"), ("Mr", "James", "Whitaker")),
    closings=("Kind regards", "Best wishes", "Many thanks", "Regards", "Yours sincerely"),
    shops=UK_SHOPS, products=UK_PRODUCTS, addresses=UK_ADDRESSES, carriers=UK_CARRIERS, date=date_uk,
    texts=texts("delivery", "autumn"), snippets=GB_SNIPPETS, charsets=("utf-8", "iso-8859-1", "windows-1252"),
    questions=UK_QUESTIONS, quote_header="-----Original Message-----", reply_prefix="Re:", keyword="Important",
    hard_products=UK_HARD,
)

AE = Locale(
    lang="en", tag="en-AE", marketplace="ae", order_prefixes=("402", "403", "404", "405", "171"),
    money=lambda x: f"AED {x:,.2f}", vat_rate=0.05, vat_label="VAT {rate}% included: {amount}",
    words={**WORDS_UK, "country": "United Arab Emirates", "ean": "EAN"},
    salutations=("Dear {first} {last},", "Dear {title} {last},", "Hello {first},"),
    buyers=(("Mr", "Omar", "Haddad"), ("Ms", "Fatima", "Al Mansoori"), ("Mr", "Rahul", "Menon"),
            ("Ms", "Layla", "Nasser")),
    closings=("Kind regards", "Best regards", "Regards"),
    shops=(Shop("Oasis Home Trading", "oasishometrading.ae", "orders",
                ("Oasis Home Trading LLC · Warehouse 14, Al Quoz Industrial Area 3, Dubai",
                 "Trade Licence No. 812345 (DED Dubai) · TRN 100234567800003"),
                ("Call 04 555 0123 or WhatsApp 050 555 0199 · orders@oasishometrading.ae",),
                "Outlook", "Oasis Home Trading"),
           Shop("Gulf Gadget Hub", "gulfgadgethub.ae", "support",
                ("Gulf Gadget Hub FZ-LLC · Office 1204, Business Central Towers, Dubai Internet City",
                 "Licence No. 95821 · TRN 100398765400003"),
                ("Tel +971 4 555 0177 · support@gulfgadgethub.ae",),
                "Shopify", "Gulf Gadget Hub Support")),
    products=(("Air Fryer 5.5 L Digital", 329.00), ("Prayer Mat Memory Foam, Green", 89.00),
              ("Power Bank 20000 mAh PD", 119.00), ("Arabic Coffee Dallah Set, Gold", 145.00),
              ("Desk Lamp LED Dimmable", 79.00), ("Bedsheet Set King, Cotton 400 TC", 199.00)),
    addresses=(("Villa 22, Street 14, Al Barsha 2", "00000", "Dubai"),
               ("Apt 1803, Marina Heights Tower", "00000", "Dubai"),
               ("Building 7, Al Nahda 1", "00000", "Sharjah")),
    carriers=(Carrier("Aramex", "https://www.aramex.com/ae/en/track/results?ShipmentNumber={tn}", "99999999999"),
              Carrier("DHL", "https://www.dhl.com/ae-en/home/tracking.html?tracking-id={tn}", "9999999999")),
    date=date_uk, texts=texts("delivery", "summer"), snippets=SNIPPETS, charsets=("utf-8",),
    questions=UK_QUESTIONS[:2], reply_prefix="RE:", keyword="Important",
)
