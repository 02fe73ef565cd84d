"""Japanese (amazon.co.jp): templates as Japanese shop systems write them (ISO-2022-JP, Shift_JIS, UTF-8)."""

from __future__ import annotations

from tests.corpus.model import Carrier, Locale, Shop, Variant


def money(x: float) -> str:
    return f"{round(x):,}円"


def date(y: int, m: int, d: int) -> str:
    weekday = "火水木金土日月"[(d - 1) % 7]  # 2026-12-01 is a Tuesday
    return f"{y}年{m}月{d}日（{weekday}）"


SHOPS = (
    Shop("木工房さくら", "mokkobo-sakura.jp", "shop",
         ("株式会社木工房さくら　〒399-0011 長野県松本市寿北7-2-15",
          "適格請求書発行事業者登録番号：T3100001023456"),
         ("TEL：0263-55-1234（平日10時から17時）　E-mail：shop@mokkobo-sakura.jp",),
         "Outlook", "木工房さくら　店長 佐藤"),
    Shop("ライフテック・ジャパン", "lifetech-japan.co.jp", "support",
         ("ライフテック・ジャパン株式会社　〒530-0001 大阪府大阪市北区梅田2-4-9 ブリーゼタワー12F",
          "登録番号 T5120001187654　古物商許可証 大阪府公安委員会 第621110123456号"),
         ("お客様窓口：06-6345-7788　support@lifetech-japan.co.jp",),
         "Plentymarkets", "ライフテック・ジャパン カスタマーサポート"),
    Shop("京都茶舗 松風", "kyoto-shofu.jp", "info",
         ("有限会社松風　〒604-8005 京都府京都市中京区三条通河原町東入ル恵比須町427",
          "適格請求書発行事業者登録番号 T2130002034567"),
         ("TEL 075-211-3456　FAX 075-211-3457　info@kyoto-shofu.jp",),
         "whBOOK", "京都茶舗 松風"),
)

PRODUCTS = (
    ("ひのき まな板 42 x 24 cm", 4980.0), ("名入れ 箸 夫婦セット 桐箱入り", 3850.0), ("USB-C 急速充電器 65W", 3980.0),
    ("ワイヤレスイヤホン Bluetooth 5.3", 6980.0), ("宇治抹茶 30g 缶入り", 2160.0), ("煎茶 特上 100g", 1620.0),
    ("南部鉄器 急須 0.6L", 8800.0), ("ステンレス 電気ケトル 1.0L", 5480.0), ("木製 スツール ナラ材", 12800.0),
    ("収納ベッド シングル 引き出し付き", 39800.0),
)
HARD = (("五つ星ホテル仕様 枕 43 x 63 cm", 5980.0), ("星5つ級 羽毛布団 シングル（商品名）", 19800.0))

ADDRESSES = (("千代田区丸の内1-9-1 グラントウキョウ 3F", "100-0005", "東京都"),
             ("中区栄3-5-12 栄ビル 801", "460-0008", "愛知県名古屋市"),
             ("博多区博多駅前2-1-1", "812-0011", "福岡県福岡市"),
             ("中央区北一条西4-2-2", "060-0001", "北海道札幌市"),
             ("青葉区一番町1-2-3", "980-0811", "宮城県仙台市"))

CARRIERS = (
    Carrier("ヤマト運輸", "https://toi.kuronekoyamato.co.jp/cgi-bin/tneko?number01={tn}", "999999999999"),
    Carrier("佐川急便", "https://k2k.sagawa-exp.co.jp/p/web/okurijosearch.do?okurijoNo={tn}", "999999999999"),
    Carrier("日本郵便", "https://trackings.post.japanpost.jp/services/srv/search/?requestNo1={tn}", "9999-9999-9999"),
)

TEXTS: dict[str, tuple[Variant, ...]] = {
    "invoice": (
        Variant("【{shop}】領収書・請求書のお送り（注文番号 {order}）", (
            "この度は{shop}をご利用いただき、誠にありがとうございます。\nAmazonでご注文いただきました商品の"
            "請求書（適格請求書）{invoice_no} をPDFにて添付いたしましたので、ご確認ください。",
            "[table]",
            "請求書には消費税額を記載しております。経理処理等にご利用ください。",
        )),
        Variant("請求書送付のご案内 注文番号：{order}", (
            "ご依頼いただきました注文番号 {order}（{date}ご注文分）の請求書を添付にてお送りいたします。",
            "[table]",
            "[address]",
            "本書は保証書の代わりにもなりますので、大切に保管してください。",
        )),
    ),
    "return": (
        Variant("返品受付のご連絡（注文番号 {order}）", (
            "ご返送いただいた商品を本日受領し、検品いたしました。商品に問題がございませんでしたので、"
            "Amazonを通じて{amount}の返金手続きを行いました。",
            "お支払い方法により、返金の反映まで3から5営業日ほどかかる場合がございます。",
        )),
        Variant("返品用伝票のご案内（注文番号 {order}）", (
            "「{product}」の返品を承りました。{carrier}の返品用伝票をPDFで添付いたしましたので、印刷して荷物に"
            "貼付のうえご返送ください。送料は当店が負担いたします。",
            "商品の到着と検品の後、Amazonを通じて返金いたします。",
        )),
        Variant("返金のご案内（注文番号 {order}）", (
            "「{product}」が破損した状態で届きましたこと、誠に申し訳ございません。商品のご返送は不要です。"
            "Amazonを通じて{amount}を返金いたしました。",
        )),
    ),
    "review-request": (
        Variant("ご購入商品について（注文番号 {order}）", (
            "ご注文の商品（注文番号 {order}）はお手元に届きましたでしょうか。",
            "もしよろしければ、Amazonのカスタマーレビューにて商品のご感想をお聞かせください。"
            "いただいたレビューは、他のお客様の参考になります。",
            "レビューはAmazonアカウントの「注文履歴」から投稿いただけます。",
        )),
    ),
    "delivery-scheduling": (
        Variant("配達日時のご相談（注文番号 {order}）", (
            "ご注文の「{product}」（注文番号 {order}）は大型商品のため、家財便でのお届けとなります。",
            "お届け日時のご希望をお伺いしたく、ご連絡いたしました。{date}または{date2}の午前・午後からお選び"
            "いただけます。ご都合のよい日時をこのメッセージへのご返信でお知らせください。",
        )),
        Variant("お届け日の調整のお願い（注文番号 {order}）", (
            "ご注文の商品は重量が約40kgあるため、配送業者との配送日の調整が必要です。",
            "ご希望の配達日と時間帯（午前中、14時から16時、16時から18時、18時から21時）をお知らせください。",
        )),
    ),
    "customization": (
        Variant("名入れ内容のご確認（注文番号 {order}）", (
            "この度はご注文いただき誠にありがとうございます。「{product}」への名入れの内容を確認させてください。",
            "ご指定いただいた刻印の文字は「{engraving}」です。文字に誤りがないかご確認のうえ、ご返信ください。"
            "ご確認いただけ次第、製作を開始いたします。",
        )),
        Variant("刻印デザインのご確認（注文番号 {order}）", (
            "刻印のデザイン案をPDFで添付いたしました。文字、書体、配置をご確認ください。",
            "問題がなければ「確認しました」とご返信ください。修正も承ります。",
        )),
    ),
    "address-problem": (
        Variant("お届け先住所のご確認（注文番号 {order}）", (
            "ご注文（注文番号 {order}）の発送準備中に、お届け先住所の番地が不明であることがわかりました。",
            "[address]",
            "お手数ですが、正しい住所をお知らせください。",
        )),
        Variant("配送先住所についてのお問い合わせ（注文番号 {order}）", (
            "配送業者より、ご指定の住所では宛先不明のためお届けできないとの連絡がありました。",
            "住所に誤りがないかご確認いただき、修正後の住所をお知らせください。",
        )),
    ),
    "order-problem": (
        Variant("発送遅延のお詫び（注文番号 {order}）", (
            "仕入先からの入荷が遅れているため、ご注文（注文番号 {order}）の発送が遅れております。",
            "{date}に発送できる見込みです。キャンセルをご希望の場合は、このメッセージにご返信ください。",
        )),
    ),
    "order-confirmation": (
        Variant("【{shop}】ご注文確認メール（注文番号 {order}）", (
            "この度はご注文いただき、誠にありがとうございます。以下の内容でご注文を承りました。",
            "[table]",
            "[address]",
            "商品発送の際には、改めて発送のご案内をお送りいたします。",
        )),
    ),
    "shipping-confirmation": (
        Variant("【{shop}】商品発送のお知らせ（注文番号 {order}）", (
            "ご注文いただきました商品を本日{carrier}にて発送いたしました。",
            "[table]",
            "お問い合わせ伝票番号：{tn}\n配送状況の確認：[tracking]",
            "お届け予定日：{date}",
        )),
    ),
    "thank-you": (
        Variant("ご購入ありがとうございました", (
            "この度は{shop}の商品をお買い上げいただき、誠にありがとうございました（注文番号 {order}）。",
            "商品について何かございましたら、お気軽にお問い合わせください。今後ともよろしくお願いいたします。",
        )),
    ),
    "out-of-stock": (
        Variant("欠品のお知らせ（注文番号 {order}）", (
            "誠に申し訳ございません。ご注文の「{product}」が現在在庫切れとなっております。",
            "{date}に入荷予定です。入荷次第、発送いたします。",
        )),
    ),
    "promotion": (
        Variant("【期間限定】全品20%OFFセール開催中", (
            "いつも{shop}をご利用いただきありがとうございます（注文番号 {order}）。",
            "今週末まで、クーポンコード {code} で全品20%割引となります。この機会にぜひご利用ください。",
        )),
    ),
}

SNIPPETS: dict[str, tuple[str, ...]] = {
    "coupon": ("次回ご購入時に使える10%割引クーポン（コード：{code}）をプレゼントいたします。",),
    "shop-link": ("当店の公式オンラインショップもぜひご覧ください：https://www.{domain}/",),
    "spelled-link": ("当店の商品は www ドット {domain_spelled} ドット jp でもご覧いただけます。",),
    "seller-phone": ("お問い合わせはお電話（0263-55-1234）でも承ります。",),
    "seller-email": ("ご不明な点は shop@{domain} までメールでご連絡ください。",),
    "messenger": ("LINE公式アカウント（ID：@{handle}）からもお気軽にご相談ください。",),
    "messenger-line": ("LINE公式アカウント（ID：@{handle}）からもお気軽にご相談ください。",),
    "contact-request": ("配送業者からご連絡するため、お電話番号を教えていただけますでしょうか。",),
    "review-positive": ("よろしければ星5つの高評価をいただけますと大変励みになります。",),
    "review-incentive": ("レビューを書いていただいた方には、Amazonギフト券500円分をプレゼントいたします。",),
    "review-satisfied": ("ご満足いただけましたら、ぜひレビューをお願いいたします。"
                         "ご満足いただけない場合は、レビューの前に当店までご連絡ください。",),
    "review-change": ("問題が解決しましたので、先日のレビューを削除または変更していただけないでしょうか。",),
    "cross-sell": ("同じシリーズの他の商品もご覧ください。ご購入品とよく合います。",),
    "optout": ("今後のメール配信停止をご希望の方はこちら：https://www.{domain}/mail/stop",),
    "emoji": ("ありがとうございました😊", "まもなくお届けします📦"),
    "manufacturer-hotline": (
        "製品の操作方法や保証修理につきましては、メーカーのサポートセンターへ直接お問い合わせください。"
        "メーカーサポートセンター（平日9時から18時）：0120-123-456",
    ),
    "carrier-phone": ("お届け前日に配送業者よりお電話にてご連絡いたします。配送業者の連絡先：0120-01-9625",),
}

QUESTIONS = (
    ("まな板は食洗機で洗えますか？",
     "ひのきのまな板は食洗機には対応しておりません。中性洗剤で洗い、よく乾かしてからご使用ください。"),
    ("充電器はiPhone 15にも使えますか？",
     "はい、iPhone 15シリーズでもご使用いただけます。USB-C to USB-Cケーブルで最大27Wの急速充電が可能です。"),
    ("荷物が4日間動いていません。どうなっていますか？",
     "{carrier}に確認したところ、仕分けの誤りがあり、本日より再び輸送中となっております。{date}にお届けの"
     "予定です。配送状況：[tracking]"),
)

LOCALE = Locale(
    lang="ja", tag="ja-JP", marketplace="co.jp", order_prefixes=("249", "250", "503"),
    money=money, vat_rate=0.10, vat_label="（うち消費税{rate}%　{amount}）",
    words={"order": "注文番号", "invoice": "請求書", "pos": "No", "item": "商品名", "sku": "品番", "qty": "数量",
           "price": "単価", "sum": "金額", "subtotal": "小計", "shipping": "送料", "total": "合計",
           "ship_to": "お届け先", "attachment": "invoice", "tracking": "配送状況を確認する", "ean": "JAN",
           "country": "日本", "terms": "terms", "label": "henpin_label", "proof": "design_proof", "from": "From",
           "question_subject": "商品についてのご質問 注文番号", "unsubscribe": "配信停止",
           "engraving": "Takashi & Yumi 2026.11.22"},
    salutations=("{last} {first} 様", "{last} 様", "{last}{first}様", "お客様各位"),
    buyers=(("", "花子", "山田"), ("", "健太", "鈴木"), ("", "美咲", "高橋"), ("", "大輔", "田中"),
            ("", "由美", "伊藤"), ("", "翔太", "渡辺")),
    closings=("今後ともよろしくお願いいたします。", "何卒よろしくお願いいたします。",
              "引き続きよろしくお願い申し上げます。"),
    shops=SHOPS, products=PRODUCTS, addresses=ADDRESSES, carriers=CARRIERS, date=date,
    texts=TEXTS, snippets=SNIPPETS, charsets=("iso-2022-jp", "shift_jis", "utf-8", "iso-2022-jp"),
    questions=QUESTIONS, quote_header="-----Original Message-----", reply_prefix="Re:", keyword="重要",
    hard_products=HARD,
)
