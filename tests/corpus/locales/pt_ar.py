"""Portuguese (amazon.com.br, Bling/Tiny-style templates) and Arabic (amazon.ae, bilingual Gulf sellers)."""

from __future__ import annotations

from tests.corpus.model import Carrier, Locale, Shop, Variant

PT_MONTHS = ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
             "novembro", "dezembro")
AR_MONTHS = ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر",
             "ديسمبر")


def brl(x: float) -> str:
    whole, frac = f"{x:,.2f}".split(".")
    return f"R$ {whole.replace(',', '.')},{frac}"


PT = Locale(
    lang="pt", tag="pt-BR", marketplace="com.br", order_prefixes=("701", "702", "703"),
    money=brl, vat_rate=0.0, vat_label="",
    words={"order": "Número do pedido", "invoice": "Nota fiscal", "pos": "Item", "item": "Produto", "sku": "Cód.",
           "qty": "Qtd.", "price": "Valor unit.", "sum": "Valor", "subtotal": "Subtotal", "shipping": "Frete",
           "total": "Total", "ship_to": "Endereço de entrega", "attachment": "NF-e", "tracking": "Rastrear pedido",
           "ean": "EAN", "country": "Brasil", "terms": "Termos", "label": "Etiqueta_devolucao",
           "proof": "Prova_arte", "from": "De", "question_subject": "Sua pergunta sobre o pedido",
           "unsubscribe": "Descadastrar", "engraving": "Para vovó Lúcia – 80 anos"},
    salutations=("Olá, {first}!", "Prezado(a) {first} {last},", "Olá {first},"),
    buyers=(("", "Ana", "Souza"), ("", "Rafael", "Oliveira"), ("", "Juliana", "Pereira"), ("", "Lucas", "Costa")),
    closings=("Atenciosamente", "Abraços", "Um abraço"),
    shops=(Shop("Casa Ipê Utilidades", "casaipe.com.br", "pedidos",
                ("Casa Ipê Utilidades Domésticas Ltda. · Rua Augusta, 1500 · São Paulo – SP · CEP 01304-001",
                 "CNPJ 12.345.678/0001-90 · Inscrição Estadual 110.042.490.114"),
                ("SAC (11) 3456-7890 · pedidos@casaipe.com.br · www.casaipe.com.br",),
                "Shopify", "Equipe Casa Ipê"),
           Shop("Pedal Brasil", "pedalbrasil.com.br", "atendimento",
                ("Pedal Brasil Comércio de Bicicletas Eireli · Av. Afonso Pena, 3200 · Belo Horizonte – MG",
                 "CNPJ 98.765.432/0001-10"),
                ("WhatsApp (31) 99876-5432 · atendimento@pedalbrasil.com.br",),
                "Billbee", "Atendimento Pedal Brasil")),
    products=(("Tábua de corte em madeira de ipê 40 x 25 cm", 189.90), ("Jogo de panelas antiaderente 5 peças", 459.00),
              ("Corrente de bicicleta 11 velocidades", 229.00), ("Carregador USB-C 65 W", 199.90),
              ("Toalha de mesa de linho 1,40 x 2,40 m", 249.00)),
    addresses=(("Rua Oscar Freire, 379, apto 52", "01426-001", "São Paulo – SP"),
               ("Av. Atlântica, 1702", "22021-001", "Rio de Janeiro – RJ"),
               ("Rua da Bahia, 1148", "30160-011", "Belo Horizonte – MG")),
    carriers=(Carrier("Correios", "https://rastreamento.correios.com.br/app/index.php?objeto={tn}",
                      "AA999999999BR"),
              Carrier("Jadlog", "https://www.jadlog.com.br/jadlog/tracking?cte={tn}", "99999999999999")),
    date=lambda y, m, d: f"{d} de {PT_MONTHS[m - 1]} de {y}",
    texts={
        "invoice": (
            Variant("Nota fiscal do seu pedido Amazon {order}", (
                "Obrigado por comprar na {shop}. Segue em anexo a nota fiscal eletrônica (DANFE) {invoice_no} do seu "
                "pedido Amazon {order}.",
                "[table]",
                "Guarde este documento: ele também vale como comprovante para a garantia.",
            )),
            Variant("NF-e {invoice_no} – pedido {order}", (
                "Conforme solicitado, enviamos a nota fiscal do pedido {order} de {date}.",
                "[table]",
                "[address]",
            )),
        ),
        "return": (Variant("Sua devolução do pedido {order}", (
            "recebemos hoje o produto devolvido e ele está em perfeito estado. O reembolso de {amount} foi "
            "solicitado pela Amazon e aparece em até 5 dias úteis.",
        )),),
        "review-request": (Variant("Sua opinião sobre o pedido {order}", (
            "seu pedido {order} já deve ter chegado.",
            "Se tiver um tempinho, ficaríamos felizes se você compartilhasse sua experiência com o produto em uma "
            "avaliação na Amazon. Avaliações ajudam outros clientes a escolher.",
        )),),
        "customization": (Variant("Gravação do seu pedido {order}", (
            "antes de gravar \"{product}\" queremos confirmar o texto com você.",
            "O texto informado para a gravação é: \"{engraving}\". Por favor, confirme a grafia ou nos diga a "
            "alteração desejada. Só iniciamos a produção após a sua aprovação.",
        )),),
        "shipping-confirmation": (Variant("Seu pedido {order} foi enviado", (
            "boa notícia: seu pedido {order} saiu hoje do nosso estoque e foi entregue aos {carrier}.",
            "[table]",
            "Código de rastreio: {tn}\nAcompanhe: [tracking]",
        )),),
        "thank-you": (Variant("Obrigado pela sua compra!", (
            "muito obrigado pelo seu pedido {order} e pela confiança na {shop}.",
            "Esperamos que goste. Se tiver qualquer dúvida ou problema, é só falar com a gente.",
        )),),
        "delivery-scheduling": (Variant("Agendamento da entrega do pedido {order}", (
            "seu pedido {order} (\"{product}\") será entregue por transportadora e precisamos agendar a entrega "
            "com você. Podemos entregar em {date} ou {date2}, das 8h às 17h. Qual data é melhor para você?",
        )),),
    },
    snippets={
        "coupon": ("Como agradecimento, ganhe 10% de desconto na próxima compra com o cupom {code}.",),
        "shop-link": ("Visite também nossa loja virtual: https://www.{domain}/",),
        "review-positive": ("Uma avaliação positiva com 5 estrelas na Amazon nos ajudaria muito!",),
        "messenger": ("Para um atendimento mais rápido, fale com a gente pelo WhatsApp (11) 98765-4321.",),
        "emoji": ("Aproveite! 😊",),
    },
    charsets=("utf-8", "iso-8859-1"),
    questions=(("Olá, a tábua pode ir na lava-louças?",
                "não recomendamos: a madeira pode rachar. Lave à mão com detergente neutro e seque bem."),),
    quote_header="-----Mensagem original-----", reply_prefix="RES:", keyword=None,
)


AR = Locale(
    lang="ar", tag="ar-AE", marketplace="ae", order_prefixes=("402", "403", "404", "405", "171"),
    money=lambda x: f"{x:,.2f} درهم", vat_rate=0.05, vat_label="شامل ضريبة القيمة المضافة {rate}%: {amount}",
    words={"order": "رقم الطلب", "invoice": "فاتورة", "pos": "م", "item": "المنتج", "sku": "الرمز", "qty": "الكمية",
           "price": "سعر الوحدة", "sum": "المبلغ", "subtotal": "المجموع الفرعي", "shipping": "الشحن",
           "total": "الإجمالي", "ship_to": "عنوان التوصيل", "attachment": "Invoice", "tracking": "تتبع الشحنة",
           "ean": "EAN", "country": "الإمارات العربية المتحدة", "terms": "Terms", "label": "Return_Label",
           "proof": "Proof", "from": "من", "question_subject": "سؤالك عن الطلب", "unsubscribe": "إلغاء الاشتراك",
           "engraving": "إلى أمي الغالية – ٢٠٢٦"},
    salutations=("عزيزي {first} {last}،", "مرحباً {first}،", "عميلنا العزيز،"),
    buyers=(("", "أحمد", "المنصوري"), ("", "فاطمة", "الهاشمي"), ("", "خالد", "الزعابي"), ("", "مريم", "النعيمي")),
    closings=("مع أطيب التحيات", "مع خالص الشكر والتقدير"),
    shops=(Shop("دار العود للعطور", "daraloud.ae", "orders",
                ("دار العود للعطور ذ.م.م · المستودع 8، القوز الصناعية 3، دبي",
                 "رخصة تجارية رقم 765432 · الرقم الضريبي TRN 100456789000003"),
                ("هاتف 04 555 0188 · واتساب 050 555 0177 · orders@daraloud.ae",),
                "Outlook", "فريق دار العود"),),
    products=(("دهن عود كمبودي 3 مل", 450.00), ("مبخرة نحاسية مزخرفة", 185.00), ("بخور معمول فاخر 50 غ", 120.00),
              ("سجادة صلاة مبطنة", 95.00), ("دلة قهوة عربية مذهبة", 145.00)),
    addresses=(("فيلا 12، شارع 7، البرشاء 2", "00000", "دبي"), ("شقة 904، برج المارينا", "00000", "دبي"),
               ("مبنى 3، النهدة 1", "00000", "الشارقة")),
    carriers=(Carrier("Aramex", "https://www.aramex.com/ae/ar/track/results?ShipmentNumber={tn}", "99999999999"),
              Carrier("DHL", "https://www.dhl.com/ae-ar/home/tracking.html?tracking-id={tn}", "9999999999")),
    date=lambda y, m, d: f"{d} {AR_MONTHS[m - 1]} {y}",
    texts={
        "invoice": (
            Variant("فاتورة طلبك على أمازون {order}", (
                "شكراً لتسوقك من {shop}. تجد مرفقاً الفاتورة الضريبية {invoice_no} الخاصة بطلبك على أمازون {order} "
                "بصيغة PDF.",
                "[table]",
                "تتضمن الفاتورة ضريبة القيمة المضافة بشكل منفصل.",
            )),
            Variant("الفاتورة الضريبية {invoice_no} – الطلب {order}", (
                "بناءً على طلبك، نرسل إليك فاتورة الطلب {order} بتاريخ {date}.",
                "[table]",
                "[address]",
            )),
        ),
        "return": (Variant("إرجاع الطلب {order}", (
            "وصلنا المنتج المرتجع اليوم وتم فحصه وهو بحالة ممتازة، وقد قمنا برد مبلغ {amount} عبر أمازون.",
        )),),
        "review-request": (Variant("رأيك في الطلب {order}", (
            "نأمل أن يكون طلبك {order} قد وصلك.",
            "إذا سمح وقتك، يسعدنا أن تشاركنا تجربتك مع المنتج بكتابة مراجعة على أمازون، فالمراجعات تساعد العملاء "
            "الآخرين على الاختيار.",
        )),),
        "customization": (Variant("النقش على طلبك {order}", (
            "قبل نقش \"{product}\" نود تأكيد النص معك.",
            "النص الذي أدخلته للنقش هو: \"{engraving}\". يرجى تأكيد الكتابة أو إبلاغنا بالتعديل المطلوب، ولن نبدأ "
            "التصنيع إلا بعد موافقتك.",
        )),),
        "shipping-confirmation": (Variant("تم شحن طلبك {order}", (
            "خبر سار: غادر طلبك {order} مستودعنا اليوم وتم تسليمه إلى {carrier}.",
            "[table]",
            "تتبع الشحنة: [tracking]",
        )),),
        "delivery-scheduling": (Variant("موعد توصيل طلبك {order}", (
            "سيتم توصيل طلبك {order} (\"{product}\") عبر شركة شحن، لذلك نحتاج إلى تحديد موعد التوصيل معك. "
            "يمكن التوصيل يوم {date} أو يوم {date2} بين الساعة 9 صباحاً و5 مساءً. أي موعد يناسبك؟",
        )),),
        "thank-you": (Variant("شكراً لشرائك!", (
            "شكراً جزيلاً لطلبك {order} ولثقتك في {shop}.",
            "نتمنى أن ينال المنتج إعجابك. إذا كان لديك أي سؤال أو مشكلة فلا تتردد في التواصل معنا.",
        )),),
    },
    snippets={
        "coupon": ("تقديراً لك، احصل على خصم 10% على طلبك القادم باستخدام كود الخصم {code}.",),
        "shop-link": ("تفضل بزيارة متجرنا الإلكتروني: https://www.{domain}/",),
        "review-positive": ("يسعدنا جداً تقييمك الإيجابي بخمس نجوم على أمازون!",),
        "messenger": ("للرد السريع راسلنا على واتساب 050 555 0177.",),
        "emoji": ("نتمنى لك تجربة رائعة 😊",),
    },
    charsets=("utf-8", "windows-1256", "iso-8859-6"),
    questions=(("هل العطر مناسب للاستخدام اليومي؟",
                "نعم، دهن العود مركز جداً، لذا تكفي قطرة واحدة للاستخدام اليومي وتدوم الرائحة طوال اليوم."),),
    quote_header="-----الرسالة الأصلية-----", reply_prefix="رد:", keyword=None,
)
