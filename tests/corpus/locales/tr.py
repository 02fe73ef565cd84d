"""Turkish (amazon.com.tr): templates of Turkish sellers (İdeasoft-, ticimax- and Shopify-style)."""

from __future__ import annotations

from tests.corpus.model import Carrier, Locale, Shop, Variant

MONTHS = ("Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos", "Eylül", "Ekim", "Kasım",
          "Aralık")


def money(x: float) -> str:
    whole, frac = f"{x:,.2f}".split(".")
    return f"{whole.replace(',', '.')},{frac} TL"


def date(y: int, m: int, d: int) -> str:
    return f"{d} {MONTHS[m - 1]} {y}"


SHOPS = (
    Shop("Ahşap Atölyesi Yıldız", "ahsapyildiz.com.tr", "siparis",
         ("Yıldız Ahşap Ürünleri San. ve Tic. Ltd. Şti. · Organize Sanayi Bölgesi 4. Cadde No: 12 · "
          "Nilüfer / Bursa",
          "Vergi Dairesi: Nilüfer · Vergi No: 9870123456 · MERSİS No: 0987012345600015 · Ticaret Sicil No: 112233"),
         ("Tel: 0224 411 22 33 · siparis@ahsapyildiz.com.tr · www.ahsapyildiz.com.tr",),
         "Shopify", "Ahşap Atölyesi Yıldız Ekibi"),
    Shop("Bisiklet Dünyası", "bisikletdunyasi.com.tr", "destek",
         ("Bisiklet Dünyası Spor Malzemeleri A.Ş. · Bağdat Caddesi No: 210 · Kadıköy / İstanbul",
          "Kadıköy V.D. 1234567890 · MERSİS 0123456789000017"),
         ("Müşteri hizmetleri: 0216 555 44 33 · destek@bisikletdunyasi.com.tr",),
         "JTL-Wawi", "Bisiklet Dünyası Müşteri Hizmetleri"),
)

PRODUCTS = (
    ("Meşe kesme tahtası 40 x 25 cm", 749.00), ("Keten masa örtüsü 140 x 240 cm", 1290.00),
    ("Bisiklet zinciri 11 vites 116 bakla", 899.00), ("Organik disk fren balatası (2 çift)", 459.00),
    ("USB-C şarj cihazı 65 W", 1099.00), ("Çam gardırop 3 kapaklı", 12490.00),
    ("Türk kahvesi fincan takımı 6'lı", 690.00),
)
HARD = (("5 yıldızlı otel yastığı 50 x 70 cm", 899.00),)

ADDRESSES = (("Atatürk Bulvarı No: 45 Daire 7, Çankaya", "06420", "Ankara"),
             ("Moda Caddesi No: 18 D: 3, Kadıköy", "34710", "İstanbul"),
             ("Kıbrıs Şehitleri Caddesi No: 120, Alsancak", "35220", "İzmir"),
             ("Konyaaltı Caddesi No: 64", "07050", "Antalya"))

CARRIERS = (
    Carrier("Yurtiçi Kargo", "https://www.yurticikargo.com/tr/online-servisler/gonderi-sorgula?code={tn}",
            "999999999999"),
    Carrier("Aras Kargo", "https://www.araskargo.com.tr/trs_gonderi_sorgula.aspx?kod={tn}", "9999999999"),
    Carrier("MNG Kargo", "https://www.mngkargo.com.tr/gonderi-takip/?takipNo={tn}", "999999999"),
)

TEXTS: dict[str, tuple[Variant, ...]] = {
    "invoice": (
        Variant("{order} numaralı Amazon siparişinizin faturası ({invoice_no})", (
            "{shop} mağazasından yaptığınız alışveriş için teşekkür ederiz. {order} numaralı Amazon siparişinize "
            "ait {invoice_no} numaralı e-arşiv faturanızı ekte PDF olarak bulabilirsiniz.",
            "[table]",
            "Faturada KDV ayrıca gösterilmiştir.",
        )),
        Variant("Siparişiniz {order} için fatura", (
            "talebiniz üzerine {date} tarihli {order} numaralı siparişinizin faturasını gönderiyoruz.",
            "[table]",
            "[address]",
        )),
    ),
    "return": (
        Variant("{order} numaralı siparişinizin iadesi", (
            "iade ettiğiniz ürün bugün elimize ulaştı ve kontrol edildi. Ürün kusursuz durumda olduğu için "
            "{amount} tutarındaki iadenizi Amazon üzerinden başlattık.",
            "Ödeme yönteminize göre tutar 3 ila 5 iş günü içinde hesabınıza yansır.",
        )),
    ),
    "review-request": (
        Variant("{order} numaralı siparişiniz hakkında görüşünüz", (
            "{order} numaralı siparişiniz size ulaşmış olmalı.",
            "Vaktiniz olursa ürünle ilgili deneyiminizi Amazon'da bir değerlendirme yazarak paylaşmanızdan memnun "
            "oluruz. Yorumlar diğer müşterilerin karar vermesine yardımcı olur.",
        )),
    ),
    "delivery-scheduling": (
        Variant("{order} numaralı siparişiniz için teslimat randevusu", (
            "{order} numaralı siparişiniz (\"{product}\") ambar ile palet üzerinde teslim edilecektir; bu nedenle "
            "sizinle bir teslimat randevusu belirlememiz gerekiyor.",
            "Teslimat {date} veya {date2} tarihinde saat 09:00 ile 17:00 arasında yapılabilir. Size hangi günün "
            "uygun olduğunu ve evde birinin bulunup bulunmayacağını bildirir misiniz?",
        )),
    ),
    "customization": (
        Variant("{order} numaralı siparişinizin gravürü", (
            "{order} numaralı siparişiniz için teşekkür ederiz. \"{product}\" ürününe gravür yapmadan önce metni "
            "sizinle teyit etmek istiyoruz.",
            "Belirttiğiniz gravür metni: \"{engraving}\". Lütfen yazımı onaylayın veya istediğiniz değişikliği "
            "bildirin. Üretime ancak onayınızdan sonra başlıyoruz.",
        )),
    ),
    "address-problem": (
        Variant("{order} numaralı siparişinizin teslimat adresi", (
            "{order} numaralı siparişinizi hazırlarken teslimat adresinde bina numarasının eksik olduğunu fark "
            "ettik:",
            "[address]",
            "Paketin teslim edilebilmesi için lütfen tam adresinizi bize bildirin.",
        )),
    ),
    "order-problem": (
        Variant("{order} numaralı siparişinizde gecikme", (
            "tedarikçimiz \"{product}\" ürününü geç teslim ettiği için {order} numaralı siparişinizin kargoya "
            "verilmesi gecikecektir. Ürünü {date} tarihinde göndermeyi planlıyoruz.",
        )),
    ),
    "order-confirmation": (
        Variant("Sipariş onayı – {order}", (
            "siparişiniz için teşekkür ederiz! {date} tarihli {order} numaralı siparişinizi aldığımızı onaylarız.",
            "[table]",
        )),
    ),
    "shipping-confirmation": (
        Variant("{order} numaralı siparişiniz kargoya verildi", (
            "{order} numaralı siparişiniz bugün depomuzdan çıktı ve {carrier} firmasına teslim edildi.",
            "[table]",
            "Kargo takip: [tracking]",
        )),
    ),
    "thank-you": (
        Variant("Alışverişiniz için teşekkürler!", (
            "{order} numaralı siparişiniz ve {shop} mağazasına gösterdiğiniz güven için çok teşekkür ederiz.",
            "Ürünü güzel günlerde kullanmanızı dileriz. Herhangi bir sorunuz olursa bize yazmaktan çekinmeyin.",
        )),
    ),
    "out-of-stock": (
        Variant("{order} numaralı sipariş: ürün stokta yok", (
            "maalesef {order} numaralı siparişinizdeki \"{product}\" şu anda stokta bulunmamaktadır. Yeni stok "
            "{date} tarihinde bekleniyor.",
        )),
    ),
    "promotion": (
        Variant("Sadece bu hafta: tüm ürünlerde %20 indirim", (
            "{shop} müşterisi olarak (sipariş {order}) pazar gününe kadar {code} indirim koduyla %20 indirim "
            "kazanıyorsunuz.",
        )),
    ),
}

SNIPPETS: dict[str, tuple[str, ...]] = {
    "coupon": ("Teşekkür olarak bir sonraki siparişinizde {code} kupon koduyla %10 indirim kazanıyorsunuz.",),
    "shop-link": ("Web mağazamızı da ziyaret edin: https://www.{domain}/",),
    "seller-phone": ("Sorularınız için bizi 0224 411 22 33 numarasından arayabilirsiniz.",),
    "seller-email": ("Bize destek@{domain} adresinden yazabilirsiniz.",),
    "messenger": ("Hızlı yanıt için bize WhatsApp üzerinden 0532 123 45 67 numarasından yazın.",),
    "review-positive": ("Amazon'da olumlu bir yorum ve 5 yıldız bırakırsanız çok seviniriz!",),
    "review-incentive": ("Yorum yazan müşterilerimize 100 TL değerinde hediye çeki gönderiyoruz.",),
    "emoji": ("Güle güle kullanın! 😊",),
    "contact-request": ("Kargo firmasının size ulaşabilmesi için telefon numaranızı bize gönderir misiniz?",),
    "manufacturer-hotline": ("Teknik sorular ve garanti işlemleri için üreticinin çağrı merkezini arayın: "
                             "0850 222 33 44.",),
}

QUESTIONS = (
    ("Merhaba, zincir Shimano 105 grubuna uyar mı?",
     "evet, zincir tüm 11 vitesli Shimano gruplarıyla, 105 dahil, uyumludur. Zincir kilidi kutudadır."),
    ("Masa örtüsü 60 derecede yıkanabilir mi?",
     "40 derecede yıkamanızı öneririz: 60 derecede keten %5'e kadar çekebilir."),
)

LOCALE = Locale(
    lang="tr", tag="tr-TR", marketplace="com.tr", order_prefixes=("402", "403", "404", "405", "406"),
    money=money, vat_rate=0.20, vat_label="KDV (%{rate}) dahil: {amount}",
    words={"order": "Sipariş numarası", "invoice": "Fatura", "pos": "Sıra", "item": "Ürün", "sku": "Stok kodu",
           "qty": "Adet", "price": "Birim fiyat", "sum": "Tutar", "subtotal": "Ara toplam", "shipping": "Kargo",
           "total": "Genel toplam", "ship_to": "Teslimat adresi", "attachment": "Fatura", "tracking": "Kargo takibi",
           "ean": "Barkod", "country": "Türkiye", "terms": "Mesafeli_satis_sozlesmesi", "label": "Iade_etiketi",
           "proof": "Tasarim", "from": "Kimden", "question_subject": "Siparişinizle ilgili sorunuz",
           "unsubscribe": "Abonelikten çık", "engraving": "Canım annem Ayşe'ye – 60. yaş"},
    salutations=("Sayın {first} {last},", "Merhaba {first} {title},", "Merhaba {first},", "Değerli müşterimiz,"),
    buyers=(("Hanım", "Elif", "Demir"), ("Bey", "Mehmet", "Kaya"), ("Hanım", "Zeynep", "Çelik"),
            ("Bey", "Burak", "Şahin")),
    closings=("Saygılarımızla", "İyi günler dileriz", "Sevgiler"),
    shops=SHOPS, products=PRODUCTS, addresses=ADDRESSES, carriers=CARRIERS, date=date,
    texts=TEXTS, snippets=SNIPPETS, charsets=("utf-8", "iso-8859-9", "windows-1254"),
    questions=QUESTIONS, quote_header="-----Orijinal İleti-----", reply_prefix="YNT:", keyword=None,
    hard_products=HARD,
)
