"""Spanish (amazon.es): templates of Spanish sellers (PrestaShop, Shopify, JTL)."""

from __future__ import annotations

from tests.corpus.model import Carrier, Locale, Shop, Variant

MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
          "noviembre", "diciembre")


def money(x: float) -> str:
    whole, frac = f"{x:,.2f}".split(".")
    return f"{whole.replace(',', '.')},{frac} €"


def date(y: int, m: int, d: int) -> str:
    return f"{d} de {MONTHS[m - 1]} de {y}"


SHOPS = (
    Shop("Cerámica del Sur", "ceramicadelsur.es", "pedidos",
         ("Cerámica del Sur S.L. · C/ Alfarería 42 · 41010 Sevilla",
          "CIF B91234567 · Inscrita en el Registro Mercantil de Sevilla, Tomo 5123, Folio 87, Hoja SE-81234"),
         ("Tel. 954 33 21 10 · pedidos@ceramicadelsur.es · www.ceramicadelsur.es",),
         "Shopify", "El equipo de Cerámica del Sur"),
    Shop("Muebles Olmedo", "mueblesolmedo.es", "atencion",
         ("Muebles Olmedo S.A. · Polígono Industrial La Estación, nave 7 · 28320 Pinto (Madrid)",
          "NIF A28765432 · Registro Mercantil de Madrid, Tomo 12.345, Folio 67, Hoja M-123456"),
         ("Atención al cliente: 91 691 22 33 · atencion@mueblesolmedo.es",),
         "JTL-Wawi", "Atención al cliente Muebles Olmedo"),
    Shop("Bici Norte", "bicinorte.es", "tienda",
         ("Bici Norte S.L.U. · Avenida de la Libertad 19 · 20004 Donostia-San Sebastián",
          "CIF B20987654 · R.M. de Gipuzkoa, Tomo 2210, Folio 15, Hoja SS-30221"),
         ("Llámanos al 943 42 11 90 · tienda@bicinorte.es",),
         "Plentymarkets", "Iker, de Bici Norte"),
    Shop("Aceites Valdeolivo", "valdeolivo.es", "info",
         ("Aceites Valdeolivo S.Coop.And. · Carretera de Baeza km 3 · 23440 Baeza (Jaén)",
          "CIF F23456789 · Registro Sanitario 16.01234/J"),
         ("Teléfono 953 74 00 12 · info@valdeolivo.es",),
         "Billbee", "Carmen López"),
)

PRODUCTS = (
    ("Fuente de cerámica pintada a mano 35 cm", 39.00), ("Juego de 6 platos hondos, azul cobalto", 54.00),
    ("Aceite de oliva virgen extra 5 L, cosecha temprana", 49.50), ("Estantería de roble 5 baldas", 229.00),
    ("Mesa de comedor extensible 160-200 cm", 489.00), ("Cadena de bicicleta 11 velocidades", 28.90),
    ("Pastillas de freno de disco orgánicas (2 pares)", 16.90), ("Cargador USB-C 65 W", 29.99),
    ("Mantel de lino 150 x 250 cm", 59.00), ("Sofá cama tapizado gris", 699.00),
)
HARD = (("Almohada de hotel 5 estrellas 70 cm", 34.90), ("Edredón nórdico «Cinco Estrellas» 150 cm", 89.00),
        ("Cuaderno de valoración docente A4", 6.50))

ADDRESSES = (("Calle Mayor 12, 3º B", "28013", "Madrid"), ("Avenida Diagonal 450, 2º 1ª", "08006", "Barcelona"),
             ("Calle Colón 8", "46004", "Valencia"), ("Plaza del Pilar 3", "50003", "Zaragoza"),
             ("Calle Larios 5", "29005", "Málaga"), ("Gran Vía 27", "48001", "Bilbao"))

CARRIERS = (
    Carrier("SEUR", "https://www.seur.com/livetracking/?segOnlineIdentificador={tn}", "99999999999999"),
    Carrier("Correos", "https://www.correos.es/es/es/herramientas/localizador/envios/detalle?tracking-number={tn}",
            "PQ9AA99999999999999999A"),
    Carrier("MRW", "https://www.mrw.es/seguimiento_envios/MRW_resultados_consultas.asp?NumeroEnvio={tn}",
            "99999999999"),
    Carrier("Nacex", "https://www.nacex.es/seguimientoDetalle.do?agencia_origen=0801&numero_albaran={tn}",
            "99999999"),
)

TEXTS: dict[str, tuple[Variant, ...]] = {
    "invoice": (
        Variant("Su factura {invoice_no} del pedido de Amazon {order}", (
            "Le agradecemos su pedido en {shop}. Adjunta encontrará la factura {invoice_no} de su pedido de "
            "Amazon {order} en formato PDF.",
            "[table]",
            "La factura muestra el IVA desglosado y puede conservarla para su contabilidad.",
        )),
        Variant("Factura de su pedido {order}", (
            "tal como nos solicitó, le enviamos la factura de su pedido {order} del {date}.",
            "[table]",
            "[address]",
            "Consérvela: también sirve como justificante de compra para la garantía.",
        )),
        Variant("Factura {invoice_no} – pedido {order}", (
            "Ha solicitado una factura a través de Amazon. La encontrará adjunta a este mensaje (PDF).",
            "Número de pedido: {order}\nNúmero de factura: {invoice_no}\nFecha: {date}",
            "[table]",
        )),
    ),
    "return": (
        Variant("Su devolución del pedido {order}", (
            "su devolución ha llegado hoy y ha sido revisada. El artículo está en perfecto estado, por lo que "
            "hemos tramitado el reembolso de {amount} a través de Amazon.",
            "Según su método de pago, el abono aparecerá en 3 a 5 días laborables.",
        )),
        Variant("Etiqueta de devolución – pedido {order}", (
            "ha solicitado la devolución de «{product}» del pedido {order}. Adjuntamos la etiqueta de devolución "
            "prepagada de {carrier}; imprímala y péguela en el paquete.",
            "El reembolso se realizará en cuanto recibamos y revisemos el artículo.",
        )),
        Variant("Reembolso de su pedido {order}", (
            "sentimos que «{product}» haya llegado dañado. No hace falta que lo devuelva: le hemos reembolsado "
            "{amount} a través de Amazon.",
        )),
    ),
    "review-request": (
        Variant("Su opinión sobre el pedido {order}", (
            "su pedido {order} ya debería haber llegado.",
            "Si tiene un momento, nos gustaría que compartiera su experiencia con el producto dejando una reseña en "
            "Amazon. Las opiniones ayudan a otros clientes a decidir.",
            "Puede escribir la reseña desde «Mis pedidos» en su cuenta de Amazon.",
        )),
        Variant("Pedido {order}: ¿qué tal su artículo?", (
            "hace unos días recibió «{product}».",
            "Si lo desea, puede valorar el producto en Amazon, sea cual sea su impresión. Una opinión sincera nos "
            "ayuda a mejorar.",
        )),
    ),
    "delivery-scheduling": (
        Variant("Cita de entrega para su pedido {order}", (
            "su pedido {order} («{product}») se entregará mediante agencia de transporte en palé, por lo que "
            "necesitamos acordar con usted una cita de entrega.",
            "La agencia puede entregarlo el {date} o el {date2}, entre las 9 y las 18 h. Indíquenos qué día le "
            "viene bien y si habrá alguien en casa.",
        )),
        Variant("Entrega de su pedido {order}: franja horaria", (
            "para entregar su pedido {order} tenemos que programar la entrega con usted. El bulto pesa unos 60 kg.",
            "Franjas disponibles: {date} por la mañana o {date2} por la tarde. ¿Cuál prefiere? Basta con una "
            "respuesta breve a este mensaje.",
        )),
    ),
    "customization": (
        Variant("Grabado de su pedido {order}", (
            "gracias por su pedido {order}. Antes de grabar «{product}» queremos confirmar el texto con usted.",
            "Ha indicado el siguiente texto del grabado: «{engraving}». Confirme la ortografía o indíquenos el "
            "cambio que desea. La fabricación empieza solo tras su aprobación.",
        )),
        Variant("Prueba de diseño de su pedido personalizado {order}", (
            "adjuntamos la prueba de su personalización. Revise el texto, la fuente y la composición.",
            "Si todo está bien, basta con responder «aprobado». Haremos los cambios que necesite.",
        )),
    ),
    "address-problem": (
        Variant("Dirección de entrega de su pedido {order}", (
            "al preparar su pedido {order} hemos visto que en la dirección de entrega falta el número de la "
            "calle:",
            "[address]",
            "Indíquenos la dirección completa para que el paquete pueda entregarse.",
        )),
        Variant("Pedido {order}: entrega fallida", (
            "la agencia no ha podido entregar su paquete del pedido {order}: el destinatario es desconocido en la "
            "dirección indicada y el paquete vuelve a nuestro almacén.",
            "Compruebe la dirección y díganos si debemos enviarlo a otra.",
        )),
        Variant("Consulta sobre la dirección – pedido {order}", (
            "su pedido {order} va a enviarse a esta dirección:",
            "[address]",
            "Sin embargo, el código postal {postcode} no corresponde a {city}. Revise los datos antes de que "
            "entreguemos el paquete a la agencia.",
        )),
    ),
    "order-problem": (
        Variant("Retraso en su pedido {order}", (
            "lamentablemente el envío de su pedido {order} se retrasa porque nuestro proveedor entrega «{product}» "
            "más tarde de lo previsto.",
            "Ahora prevemos enviarlo el {date}. Si prefiere cancelar, responda a este mensaje; la cancelación es "
            "gratuita.",
        )),
    ),
    "order-confirmation": (
        Variant("Confirmación de pedido – {order}", (
            "¡gracias por su pedido! Confirmamos la recepción de su pedido {order} del {date}.",
            "[table]",
            "[address]",
            "Recibirá una confirmación de envío cuando la mercancía salga de nuestro almacén.",
        )),
    ),
    "shipping-confirmation": (
        Variant("Su pedido {order} ha sido enviado", (
            "buenas noticias: su pedido {order} ha salido hoy de nuestro almacén y se ha entregado a {carrier}.",
            "[table]",
            "Número de seguimiento: {tn}\nSiga su envío: [tracking]",
        )),
        Variant("Su paquete {order} está en camino", (
            "¡Su paquete está en camino! Puede seguirlo aquí: [tracking]",
            "[address]",
        )),
    ),
    "thank-you": (
        Variant("¡Gracias por su compra!", (
            "muchas gracias por su pedido {order} y por su confianza.",
            "Esperamos que disfrute de su compra. Si tiene alguna pregunta o problema, no dude en contactarnos.",
        )),
        Variant("Gracias – pedido {order}", (
            "solo queríamos darle las gracias. Para una pequeña empresa familiar, cada pedido cuenta.",
            "Quedamos a su disposición para cualquier consulta sobre su pedido {order}.",
        )),
    ),
    "out-of-stock": (
        Variant("Pedido {order}: artículo agotado", (
            "lamentablemente «{product}» de su pedido {order} está agotado en este momento. El proveedor anuncia "
            "la próxima entrega para el {date}.",
            "Enviaremos su pedido en cuanto llegue la mercancía. Gracias por su comprensión.",
        )),
    ),
    "promotion": (
        Variant("Solo esta semana: 20 % en toda la tienda", (
            "como cliente de {shop} (pedido {order}) no queremos que se pierda nuestras rebajas de invierno.",
            "Hasta el domingo, 20 % de descuento en todos los artículos con el código promocional {code}. "
            "¡Descubra nuestras novedades!",
        )),
    ),
}

SNIPPETS: dict[str, tuple[str, ...]] = {
    "coupon": ("Como agradecimiento, obtenga un 10 % de descuento en su próximo pedido con el código de descuento "
               "{code}.",
               "Con el cupón {code} ahorra 5 € en su próxima compra."),
    "shop-link": ("Visite nuestra tienda online: https://www.{domain}/",),
    "spelled-link": ("Encuentre todo nuestro catálogo en www punto {domain_spelled} punto es.",),
    "seller-phone": ("Para cualquier duda, llámenos al 954 33 21 10.",),
    "seller-email": ("Escríbanos a pedidos@{domain} si tiene cualquier duda.",),
    "messenger": ("Para una respuesta rápida, escríbanos por WhatsApp al 612 34 56 78.",),
    "contact-request": ("¿Podría facilitarnos su número de teléfono para que la agencia pueda llamarle?",),
    "review-positive": ("¡Una reseña positiva en Amazon nos haría muy felices!",
                        "Si pudiera dejarnos 5 estrellas, ayudaría muchísimo a nuestro pequeño taller."),
    "review-incentive": ("Deje una reseña y le enviaremos de regalo una tarjeta regalo de 10 €.",),
    "review-satisfied": ("Si está satisfecho, déjenos una reseña. Si no está satisfecho, contáctenos antes de dejar "
                         "una valoración.",),
    "review-change": ("Ahora que lo hemos solucionado, ¿podría modificar o eliminar su reseña negativa?",),
    "cross-sell": ("Descubra nuestros otros productos de la misma colección, combinan perfectamente con su compra.",),
    "optout": ("¿No desea recibir más correos? Puede darse de baja aquí: https://www.{domain}/baja",),
    "emoji": ("¡Que lo disfrute! 😊", "Su paquete ya casi está ahí 📦"),
    "manufacturer-hotline": (
        "Para consultas técnicas y reclamaciones de garantía, contacte directamente con el servicio técnico del "
        "fabricante. El teléfono gratuito del fabricante atiende de lunes a viernes de 9 a 19 h: 900 123 456.",
    ),
    "carrier-phone": ("La agencia le llamará el día antes de la entrega; también puede contactar con el "
                      "transportista en el 902 10 10 10.",),
}

QUESTIONS = (
    ("Hola, ¿la fuente se puede meter en el lavavajillas?",
     "sí, la cerámica está esmaltada y es apta para lavavajillas y microondas. Solo le recomendamos no "
     "exponerla a cambios bruscos de temperatura."),
    ("¿La mesa se entrega montada?",
     "la mesa se entrega desmontada en dos bultos; el montaje es sencillo y lleva unos 30 minutos. Las "
     "instrucciones y la herramienta van incluidas."),
    ("Mi paquete lleva 4 días parado, ¿qué pasa?",
     "hemos hablado con {carrier}: el paquete se clasificó mal y ya vuelve a estar en camino. La entrega está "
     "prevista para el {date}. Seguimiento: [tracking]"),
)

LOCALE = Locale(
    lang="es", tag="es-ES", marketplace="es", order_prefixes=("402", "403", "404", "405", "406", "407", "171"),
    money=money, vat_rate=0.21, vat_label="IVA incluido ({rate} %): {amount}",
    words={"order": "Número de pedido", "invoice": "Factura", "pos": "Pos.", "item": "Artículo", "sku": "Ref.",
           "qty": "Cant.", "price": "Precio unit.", "sum": "Importe", "subtotal": "Subtotal",
           "shipping": "Gastos de envío", "total": "Total", "ship_to": "Dirección de entrega",
           "attachment": "Factura", "tracking": "Seguir el envío", "ean": "EAN", "country": "España",
           "terms": "Condiciones_generales", "label": "Etiqueta_devolucion", "proof": "Prueba_diseno", "from": "De",
           "question_subject": "Su consulta sobre el pedido", "unsubscribe": "Darse de baja",
           "engraving": "Para Lucía, con todo mi amor – 15/08/2026"},
    salutations=("Estimado/a {title} {last}:", "Hola, {first}:", "Estimado cliente:", "Hola {first},",
                 "Buenos días:"),
    buyers=(("Sra.", "Lucía", "García"), ("Sr.", "Javier", "Martínez"), ("Sra.", "Marta", "Fernández"),
            ("Sr.", "Pablo", "Sánchez"), ("Sra.", "Nuria", "Puig"), ("Sr.", "Iñaki", "Etxeberria")),
    closings=("Saludos cordiales", "Atentamente", "Un saludo", "Muchas gracias y un saludo"),
    shops=SHOPS, products=PRODUCTS, addresses=ADDRESSES, carriers=CARRIERS, date=date,
    texts=TEXTS, snippets=SNIPPETS, charsets=("utf-8", "iso-8859-15", "windows-1252", "iso-8859-1"),
    questions=QUESTIONS, quote_header="-----Mensaje original-----", reply_prefix="RE:", keyword="Importante",
    hard_products=HARD,
)
