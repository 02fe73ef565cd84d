"""Failure classes found by the third session-4 probe (tests/corpus/probe3): fresh seller mail of
kinds the first two probes did not write (delivery windows, Zoho replies, licence keys, loyalty and
newsletter schemes, prize draws, sign-ups by e-mail). Each test states the mechanism, with guards."""

from __future__ import annotations

import pytest

from gateway.policy.engine import PolicyEngine
from gateway.policy.verdict import Action, Verdict
from tests.policy.mail import ALIASES, message, recipients

ORDER = "302-4817265-9034712"


def _verdict(engine: PolicyEngine, subject: str, body: str, mp: str, *, html: str | None = None,
             headers: dict[str, str] | None = None) -> Verdict:
    to = ALIASES[mp]
    return engine.evaluate(message(subject, body, html=html, to=to, headers=headers), recipients(to))


def _rules(verdict: Verdict) -> set[str]:
    return {h.rule for h in verdict.hits}


REFUSED = (Action.REJECT, Action.QUARANTINE)

# --------------------------------------------------------------------------------------------------
# 1. A delivery window written with dots ("kl. 08.00-12.00") parsed as a Stockholm phone number


@pytest.mark.parametrize(("mp", "line"), [
    ("se", "- tisdag 8 december kl. 08.00-12.00"),
    ("se", "Vi kommer fredag 11 december kl. 08.00 - 12.00."),
    ("it", "Il corriere passa venerdì dalle 08.30–12.30."),
    ("de", "Zustellung am Dienstag, 08:00 bis 12:00 Uhr."),
])
def test_a_clock_time_range_is_not_a_phone_number(engine: PolicyEngine, mp: str, line: str) -> None:
    body = f"Hej,\n\nleveransen av order {ORDER} kan ske:\n{line}\n\nSvara med den tid som passar.\n"
    assert "seller-phone-number" not in _rules(_verdict(engine, f"Leverans order {ORDER}", body, mp))


@pytest.mark.parametrize(("mp", "line"), [
    ("se", "Ring oss på 08-123 456 78 om något är oklart."),
    ("de", "Tel. 0711 400409, Mo–Fr 08:00-17:00"),
    ("fr", "Appelez-nous au 01.23.45.67.89."),
])
def test_a_phone_number_next_to_opening_hours_is_still_found(engine: PolicyEngine, mp: str, line: str) -> None:
    body = f"Hej,\n\norder {ORDER} skickas i morgon.\n{line}\n"
    assert "seller-phone-number" in _rules(_verdict(engine, f"Order {ORDER}", body, mp))


# --------------------------------------------------------------------------------------------------
# 2. Zoho's attribution line ("---- Op ... <alias> schreef ----") before the buyer's quoted message


ZOHO = ('<div>Beste Henk,<br><br>We sturen vandaag de juiste ketting voor bestelling {order}.<br><br>Groet,'
        '<br>Team Bakker</div><br><div class="zmail_extra"><div>---- {att} ----</div>'
        '<blockquote style="border-left:1px solid #ccc;padding-left:6px"><div>{quoted}</div></blockquote></div>')


@pytest.mark.parametrize(("mp", "att"), [
    ("nl", "Op di, 01 dec 2026 20:14:09 +0100 <b>Henk</b> &lt;{alias}&gt; schreef"),
    ("co.uk", "On Tue, 01 Dec 2026 20:14:09 +0000 <b>Henk</b> &lt;{alias}&gt; wrote"),
    ("de", "Am Di, 01 Dez 2026 20:14:09 +0100 <b>Henk</b> &lt;{alias}&gt; schrieb"),
])
def test_zoho_attribution_sets_the_buyers_quote_apart(engine: PolicyEngine, mp: str, att: str) -> None:
    quoted = "Ik kreeg de verkeerde ketting 😕 Bel me gerust: 06-12345678"
    html = ZOHO.format(order=ORDER, att=att.format(alias=ALIASES[mp]), quoted=quoted)
    verdict = _verdict(engine, f"Re: Verkeerde ketting {ORDER}", "Beste Henk, we sturen de juiste ketting.", mp,
                       html=html, headers={"In-Reply-To": "<abc@marketplace.amazon.nl>"})
    assert verdict.action not in REFUSED, _rules(verdict)
    assert not {"seller-phone-number", "emoji"} & _rules(verdict)


def test_a_zoho_style_quote_of_the_sellers_own_mail_is_still_judged(engine: PolicyEngine) -> None:
    att = "Op di, 01 dec 2026 20:14:09 +0100 <b>Bakker</b> &lt;support@bakker.example&gt; schreef"
    html = ZOHO.format(order=ORDER, att=att, quoted="Bel ons gerust: 06-12345678")
    verdict = _verdict(engine, f"Bestelling {ORDER}", "Beste Henk.", "nl", html=html)
    assert "seller-phone-number" in _rules(verdict)


# --------------------------------------------------------------------------------------------------
# 3. A licence key mail that thanks for the order read as a thank-you-only mail


@pytest.mark.parametrize(("mp", "body"), [
    ("co.uk", "Dear customer,\n\nthank you for your order {o}. Here is your licence key for PhotoMend Pro:\n\n"
              "    PMP27-8KQ2W-RT6YH-33JXV-LM9PA\n\nTo activate, open Help > Activate and paste the key.\n"),
    ("de", "Guten Tag,\n\nvielen Dank für Ihre Bestellung {o}. Ihr Lizenzschlüssel lautet:\n\n"
           "    OFF-2027-ABCD-EFGH\n\nSie aktivieren das Programm unter Hilfe > Aktivieren.\n"),
    ("co.jp", "お客様\n\nご注文ありがとうございます（注文番号 {o}）。ライセンスキーは以下のとおりです。\n\n"
              "    JPX7-22KQ-9PLM-4RTA\n"),
])
def test_a_licence_key_is_a_permitted_purpose(engine: PolicyEngine, mp: str, body: str) -> None:
    verdict = _verdict(engine, f"Licence key {ORDER}", body.format(o=ORDER), mp)
    assert verdict.action not in REFUSED, _rules(verdict)
    assert "thanks-only" not in _rules(verdict)


def test_a_plain_thank_you_is_still_thanks_only(engine: PolicyEngine) -> None:
    body = f"Dear customer,\n\nthank you for your order {ORDER}. We hope you enjoy your software!\n"
    assert "thanks-only" in _rules(_verdict(engine, f"Order {ORDER}", body, "co.uk"))


# --------------------------------------------------------------------------------------------------
# 4. Newsletter sign-ups, loyalty schemes and members' clubs


@pytest.mark.parametrize(("mp", "line"), [
    ("co.uk", "You're invited to join the Glow Insiders club: members get early access to new scents"
              " and a members-only price."),
    ("de", "Sammeln Sie mit jedem Einkauf Treuepunkte in unserem Kundenclub."),
    ("fr", "Chaque pot vous rapporte 10 points sur votre carte fidélité."),
    ("it", "Si iscriva alla nostra newsletter per scoprire le novità."),
    ("nl", "Meld je aan voor onze nieuwsbrief en mis niets."),
    ("se", "Anmäl dig till vårt nyhetsbrev."),
    ("com.tr", "Sadık müşterilerimize özel fırsatlar için bültenimize kaydolun."),
    ("co.jp", "当店メールマガジンにご登録いただくと、会員限定価格のご案内をお届けします。"),
])
def test_newsletter_and_loyalty_schemes_are_promotion(engine: PolicyEngine, mp: str, line: str) -> None:
    body = f"Hello,\n\nthe invoice for order {ORDER} is attached.\n\n{line}\n"
    verdict = _verdict(engine, f"Invoice {ORDER}", body, mp)
    assert "promotion-cross-selling" in _rules(verdict)
    assert verdict.action in REFUSED


@pytest.mark.parametrize(("mp", "line"), [
    ("co.uk", "Please find attached the invoice for order {o}. Customer loyalty matters to us, so the price is fixed."),
    ("de", "anbei die Rechnung zu Ihrer Bestellung {o}. Sie erhalten von uns keinen Newsletter."),
    ("nl", "In de bijlage vindt u de factuur voor bestelling {o}. Uw klantnummer staat rechtsboven."),
    ("de", "anbei die Rechnung zu Ihrer Bestellung {o}. Wir melden Sie selbstverständlich nicht für unseren"
           " Newsletter an."),
    ("fr", "Veuillez trouver ci-joint la facture de votre commande {o}. Votre carte de fidélité Amazon n'est pas"
           " concernée."),
    ("co.jp", "ご注文（注文番号 {o}）の請求書をお送りします。"
              "Amazonポイントのご利用分とプライム会員の配送料無料を反映しております。"),
])
def test_ordinary_mail_mentioning_customers_is_not_promotion(engine: PolicyEngine, mp: str, line: str) -> None:
    verdict = _verdict(engine, f"Invoice {ORDER}", line.format(o=ORDER) + "\n", mp)
    assert not {"promotion-cross-selling", "promotion-discount"} & _rules(verdict)


# --------------------------------------------------------------------------------------------------
# 5. A prize draw for sharing the experience, and a sign-up asking for the buyer's e-mail


@pytest.mark.parametrize(("mp", "line"), [
    ("co.uk", "Every customer who shares their experience on the product page this month is entered into"
              " our prize draw for a £100 Amazon voucher."),
    ("de", "Unter allen, die eine Rezension schreiben, verlosen wir im Gewinnspiel einen Amazon-Gutschein."),
    ("es", "Entre quienes dejen una reseña hacemos un sorteo mensual."),
])
def test_a_prize_draw_for_a_review_is_an_incentive(engine: PolicyEngine, mp: str, line: str) -> None:
    body = f"Hi,\n\nyour order {ORDER} was delivered last week. {line}\n"
    assert "review-incentive" in _rules(_verdict(engine, f"Order {ORDER}", body, mp))


@pytest.mark.parametrize(("mp", "line"), [
    ("co.uk", "Just reply \"JOIN\" with your email address and we'll add you."),
    ("co.jp", "ご登録ご希望の方は、メールアドレスをご返信ください。"),
])
def test_asking_for_the_buyers_email_by_reply_is_found(engine: PolicyEngine, mp: str, line: str) -> None:
    body = f"Hello,\n\norder {ORDER}.\n\n{line}\n"
    assert "buyer-contact-request" in _rules(_verdict(engine, f"Order {ORDER}", body, mp))


def test_a_reply_request_without_contact_data_is_not_a_contact_request(engine: PolicyEngine) -> None:
    body = (f"Hello,\n\nthe trivet for order {ORDER} follows separately. If you would rather not wait, "
            "just reply and we will cancel that item and refund it through Amazon.\n")
    verdict = _verdict(engine, f"Order {ORDER}", body, "co.uk")
    assert "buyer-contact-request" not in _rules(verdict)
    assert verdict.action not in REFUSED


# --------------------------------------------------------------------------------------------------
# 6. Two-person delivery and installation appointments in nl, tr and ja got no keyword


@pytest.mark.parametrize(("mp", "subject", "body"), [
    ("nl", "Bezorgafspraak voor uw kast - bestelling {o}",
     "Beste mevrouw,\n\nUw kast (bestelling {o}) wordt door twee bezorgers tot in de kamer gebracht. Wij kunnen"
     " bezorgen op woensdag of zaterdag. Laat u ons weten welke dag u het beste uitkomt?\n"),
    ("com.tr", "Teslimat ve kurulum randevusu - sipariş {o}",
     "Merhaba,\n\n{o} numaralı siparişinizdeki bulaşık makinesi iki kişilik ekibimiz tarafından teslim edilip"
     " kurulacaktır. Uygun olduğunuz zamanı seçer misiniz?\n"),
    ("co.jp", "配送・設置日時のご相談（注文番号 {o}）",
     "田中様\n\nご注文の食器棚（注文番号 {o}）は、2名体制でお部屋までお届けし、設置いたします。"
     "ご都合のよい日時をお知らせください。\n"),
])
def test_two_person_delivery_appointments_are_critical(engine: PolicyEngine, mp: str, subject: str, body: str) -> None:
    verdict = _verdict(engine, subject.format(o=ORDER), body.format(o=ORDER), mp)
    assert "critical-keyword-missing" in _rules(verdict)
    assert verdict.action == Action.REWRITE


@pytest.mark.parametrize(("mp", "body"), [
    ("nl", "Beste klant,\n\nIn de bijlage de factuur voor bestelling {o}. Onze twee bezorgers hebben de kast"
           " gisteren geleverd; we hopen dat alles naar wens is.\n"),
    ("co.jp", "お客様\n\nご注文（注文番号 {o}）の請求書をお送りします。商品は2名体制でお届けしました。\n"),
])
def test_a_past_delivery_by_two_people_adds_no_keyword(engine: PolicyEngine, mp: str, body: str) -> None:
    verdict = _verdict(engine, f"Factuur {ORDER}", body.format(o=ORDER), mp)
    assert "critical-keyword-missing" not in _rules(verdict)


# --------------------------------------------------------------------------------------------------
# 7. A bilingual mail (French and English side by side) held as written in the wrong language


BILINGUAL = ("Bonjour / Hello,\n\nVeuillez trouver ci-joint la facture de votre commande {o}. / Please find attached"
             " the invoice for your order {o}.\n\n"
             "Ref.   | Description                          | Qty | Unit price | Total\n"
             "VA-220 | Hand-blown glass vase 22 cm          |  2  | 38.00      | 76.00\n"
             "CO-6   | Champagne coupes, set of six         |  1  | 54.00      | 54.00\n"
             "       | Total excluding VAT                  |     |            | 130.00\n"
             "       | VAT 20 percent                       |     |            | 26.00\n\n"
             "Cordialement / Best regards,\nVerrerie d'Alsace\n")


def test_a_bilingual_mail_in_the_buyers_language_too_is_not_held(engine: PolicyEngine) -> None:
    verdict = _verdict(engine, f"Facture / Invoice {ORDER}", BILINGUAL.format(o=ORDER), "fr")
    assert "language-mismatch" not in _rules(verdict)


def test_a_mail_only_in_another_language_is_still_held(engine: PolicyEngine) -> None:
    body = (f"Dear customer,\n\nplease find attached the invoice for your order {ORDER}. The vases were packed"
            " with extra care and leave our workshop tomorrow morning with the carrier. We hope they arrive"
            " safely and that you enjoy them for many years.\n\nBest regards,\nVerrerie d'Alsace\n")
    assert "language-mismatch" in _rules(_verdict(engine, f"Invoice {ORDER}", body, "co.jp"))


# --------------------------------------------------------------------------------------------------
# 8. A longer warranty for a review is an incentive


@pytest.mark.parametrize(("mp", "line"), [
    ("co.uk", "We'll extend your warranty from 1 to 3 years once your review is live on Amazon."),
    ("co.jp", "Amazonの商品ページにご感想を投稿いただいた方は、メーカー保証を1年から2年に延長いたします。"),
    ("de", "Für Ihre Rezension bei Amazon erhalten Sie eine Garantieverlängerung um zwei Jahre."),
])
def test_a_warranty_extension_for_a_review_is_an_incentive(engine: PolicyEngine, mp: str, line: str) -> None:
    body = f"Hello,\n\norder {ORDER}.\n\n{line}\n"
    assert "review-incentive" in _rules(_verdict(engine, f"Order {ORDER}", body, mp))


def test_a_warranty_extension_without_a_review_is_no_incentive(engine: PolicyEngine) -> None:
    body = (f"Hello,\n\nthe replacement purifier for order {ORDER} left today. As an apology we extend your"
            " warranty to 3 years; nothing else is needed.\n")
    assert "review-incentive" not in _rules(_verdict(engine, f"Order {ORDER}", body, "co.uk"))
