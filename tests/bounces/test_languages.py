"""Non-delivery reports in the marketplace languages: found as reports, the failed recipient read,
the mailbox-level reason taken from the localised wording (policies/bounces/reasons.toml [[lead]],
markers.toml). Layouts as Exchange and webmail servers write them: a plain-text report, and a
multipart/report whose status code says nothing specific (5.0.0)."""

from __future__ import annotations

import pytest

from gateway.bounces import parse_bounce

RCPT = "kunde@example.de"


def plain_report(subject: str, intro: str, verdict: str) -> bytes:
    return (f"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\nTo: shop@seller.example\n"
            f"Subject: {subject}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            f"Content-Transfer-Encoding: 8bit\n\n{intro}\n\n<{RCPT}>: {verdict}\n").encode()


def dsn_report(subject: str, intro: str, verdict: str) -> bytes:
    return (f"From: postmaster@mx.example.net\nTo: shop@seller.example\nSubject: {subject}\n"
            "MIME-Version: 1.0\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
            f"--b\nContent-Type: text/plain; charset=utf-8\n\n{intro}\n\n{RCPT}\n{verdict}\n\n"
            "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
            f"Final-Recipient: rfc822; {RCPT}\nAction: failed\nStatus: 5.0.0\n\n--b--\n").encode()


# (language, subject, the report's sentence, the verdict on the recipient, reason)
CASES = [
    ("de", "Unzustellbar: Ihre Bestellung", "Die Nachricht konnte nicht zugestellt werden.",
     "Benutzer unbekannt", "userunknown"),
    ("de", "Unzustellbar: Ihre Bestellung", "Die Nachricht konnte nicht zugestellt werden.",
     "Das Postfach des Empfängers ist voll", "mailboxfull"),
    ("fr", "Non remis : Votre commande", "Votre message n'a pas pu être remis.",
     "Destinataire inconnu", "userunknown"),
    ("fr", "Non distribuable : Votre commande", "Votre message n’a pas pu être remis.",
     "Boîte aux lettres pleine", "mailboxfull"),
    ("es", "No se puede entregar: Su pedido", "No se pudo entregar el mensaje.",
     "Usuario desconocido", "userunknown"),
    ("es", "No se puede entregar: Su pedido", "No se pudo entregar el mensaje.",
     "El buzón del destinatario está lleno", "mailboxfull"),
    ("it", "Non recapitabile: Il suo ordine", "Impossibile recapitare il messaggio.",
     "Utente sconosciuto", "userunknown"),
    ("it", "Non recapitabile: Il suo ordine", "Impossibile recapitare il messaggio.",
     "Casella di posta piena", "mailboxfull"),
    ("nl", "Onbestelbaar: Uw bestelling", "Het bericht kan niet worden bezorgd.",
     "Onbekende gebruiker", "userunknown"),
    ("pl", "Niedostarczalne: Twoje zamówienie", "Wiadomość nie mogła zostać dostarczona.",
     "Użytkownik nie istnieje", "userunknown"),
    ("pt", "Não é possível entregar: Seu pedido", "Não foi possível entregar a mensagem.",
     "Caixa de correio cheia", "mailboxfull"),
    ("sv", "Olevererbart: Din beställning", "Meddelandet kunde inte levereras.",
     "Okänd mottagare", "userunknown"),
    ("tr", "Teslim Edilemiyor: Siparişiniz", "İletiniz teslim edilemedi.",
     "Kullanıcı bulunamadı", "userunknown"),
    ("ja", "配信不能: ご注文について", "メッセージを配信できませんでした。",
     "宛先不明", "userunknown"),
    ("ja", "配信不能: ご注文について", "メッセージを配信できませんでした。",
     "メールボックスがいっぱいです", "mailboxfull"),
    ("de", "Unzustellbar: Ihre Bestellung", "Die Nachricht konnte nicht zugestellt werden.",
     "Die Domain existiert nicht", "hostunknown"),
    ("fr", "Non remis : Votre commande", "Votre message n'a pas pu être remis.",
     "Compte désactivé", "suspend"),
    # Other ways of saying "no such mailbox" (Exchange's localised "the email address you entered
    # couldn't be found", webmail servers' "... does not exist").
    ("de", "Unzustellbar: Ihre Bestellung", "Die Nachricht konnte nicht zugestellt werden.",
     "Der Empfänger ist unbekannt", "userunknown"),
    ("de", "Unzustellbar: Ihre Bestellung", "Die Nachricht konnte nicht zugestellt werden.",
     "Die E-Mail-Adresse wurde nicht gefunden", "userunknown"),
    ("fr", "Non remis : Votre commande", "Votre message n’a pas pu être remis.",
     "L’adresse e-mail que vous avez entrée est introuvable", "userunknown"),
    ("es", "No se puede entregar: Su pedido", "No se pudo entregar el mensaje.",
     "No se encontró la dirección de correo electrónico", "userunknown"),
    ("it", "Non recapitabile: Il suo ordine", "Impossibile recapitare il messaggio.",
     "Utente non esistente", "userunknown"),
    ("nl", "Onbestelbaar: Uw bestelling", "Het bericht kan niet worden bezorgd.",
     "Gebruiker bestaat niet", "userunknown"),
    ("pl", "Niedostarczalne: Twoje zamówienie", "Wiadomość nie mogła zostać dostarczona.",
     "Nie ma takiego użytkownika", "userunknown"),
    ("pt", "Não é possível entregar: Seu pedido", "Não foi possível entregar a mensagem.",
     "Usuário não encontrado", "userunknown"),
    ("sv", "Olevererbart: Din beställning", "Meddelandet kunde inte levereras.",
     "Mottagaren hittades inte", "userunknown"),
    ("tr", "Teslim Edilemiyor: Siparişiniz", "İletiniz teslim edilemedi.",
     "E-posta adresi bulunamadı", "userunknown"),
]


@pytest.mark.parametrize(("lang", "subject", "intro", "verdict", "reason"), CASES)
@pytest.mark.parametrize("layout", [plain_report, dsn_report])
def test_localised_report(layout, lang: str, subject: str, intro: str, verdict: str, reason: str) -> None:
    report = parse_bounce(layout(subject, intro, verdict))
    assert report.kind == "dsn", lang
    assert [(r.address, r.reason) for r in report.recipients] == [(RCPT, reason)], lang
    assert report.recipients[0].status.startswith("5.")


@pytest.mark.parametrize(("subject", "body"), [
    ("Ihre Sendung", "Ihr Paket konnte nicht zugestellt werden. Neuer Zustellversuch morgen."),
    ("Votre colis", "Votre colis n'a pas pu être livré. Nouvelle tentative demain."),
    ("Il suo pacco", "Mancata consegna del pacco: nuovo tentativo domani."),
    ("Uw pakket", "Uw pakket is niet bezorgd. Morgen proberen we het opnieuw."),
])
def test_parcel_delivery_mail_from_a_noreply_sender_is_not_a_report(subject: str, body: str) -> None:
    raw = (f"From: Versand <noreply@carrier.example>\nTo: {RCPT}\nSubject: {subject}\n"
           f"Content-Type: text/plain; charset=utf-8\n\n{body}\n").encode()
    report = parse_bounce(raw)
    assert report.kind == "not-bounce"
    assert report.recipients == ()


def test_localised_delay_notice_is_a_delay() -> None:
    raw = (f"From: postmaster@mx.example.net\nTo: shop@seller.example\nSubject: Zustellung verzögert: Ihre Bestellung\n"
           "Content-Type: text/plain; charset=utf-8\n\n"
           "Die Zustellung wurde verzögert; es wird weiterhin versucht, die Nachricht zuzustellen.\n\n"
           f"<{RCPT}>: Verbindung abgelehnt\n").encode()
    report = parse_bounce(raw)
    assert report.kind == "delay"
    assert [r.address for r in report.recipients] == [RCPT]


def test_a_carriers_delay_subject_without_the_report_colon_is_not_a_report() -> None:
    raw = (f"From: Versand <noreply@carrier.example>\nTo: {RCPT}\nSubject: Ihre Zustellung verzögert sich\n"
           "Content-Type: text/plain; charset=utf-8\n\nWir liefern Ihr Paket morgen.\n").encode()
    assert parse_bounce(raw).kind == "not-bounce"
