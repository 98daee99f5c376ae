"""The two ways a message leaves: email over SMTP, and a JSON POST to an incoming webhook.

Each either returns (delivered), raises Undelivered (it certainly did not arrive: safe to try again) or
raises Uncertain (the connection broke after the message was handed over: it may have arrived, so it
must not be sent again). Errors describe what failed with a code or an exception name only: no
addresses, no server replies (they can echo an address back), nothing personal.
"""
import http.client
import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit

TIMEOUT = 20  # seconds: a stuck server must not hold a sender for long


class Undelivered(Exception):
    """The message certainly did not arrive; it can be sent again."""


class Uncertain(Exception):
    """The message may have arrived; sending it again could deliver it twice."""


def email_message(sender: str, to: str, subject: str, body: str, message_id: str) -> EmailMessage:
    """A plain-text email; the Message-ID is fixed per notification, so copies would be recognisable."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = " ".join(subject.split())
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body, cte="quoted-printable")  # 7-bit clean: any SMTP server takes it
    return message


def send_email(settings, message: EmailMessage) -> None:
    """Hand `message` to the SMTP server of `settings` (STARTTLS and login when configured)."""
    try:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT)
    except (OSError, smtplib.SMTPException) as err:
        raise Undelivered(f"cannot connect to the SMTP server ({_name(err)})") from None
    try:
        _envelope(smtp, settings, message["To"])
        _data(smtp, message)
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()  # the message's fate was settled before QUIT: a failing QUIT changes nothing


def _envelope(smtp, settings, to):
    """Everything before the message itself: any failure here means nothing was handed over."""
    try:
        smtp.ehlo()
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        code, _ = smtp.mail(settings.smtp_from)
        if code != 250:
            raise Undelivered(f"SMTP {code} to MAIL FROM")
        code, _ = smtp.rcpt(to)
        if code not in (250, 251):
            raise Undelivered(f"SMTP {code} to RCPT TO")
    except smtplib.SMTPResponseException as err:
        raise Undelivered(f"SMTP {err.smtp_code} ({_name(err)})") from None
    except (OSError, smtplib.SMTPException) as err:
        raise Undelivered(_name(err)) from None


def _data(smtp, message):
    """Send the message: a refusal means it was not taken; a broken connection leaves it uncertain."""
    try:
        code, _ = smtp.data(message.as_bytes())
    except smtplib.SMTPResponseException as err:  # DATA itself refused: nothing was handed over
        raise Undelivered(f"SMTP {err.smtp_code} to DATA") from None
    except (OSError, smtplib.SMTPException) as err:
        raise Uncertain(f"connection lost while sending the message ({_name(err)})") from None
    if code != 250:
        raise Undelivered(f"SMTP {code} after the message")


def post_webhook(url: str, payload: dict) -> None:
    """POST `payload` as JSON to an incoming webhook; any 2xx answer means it was posted, a 3xx or 4xx that it
    was not (so it can be tried again), a 5xx that it may have been."""
    parts = urlsplit(url)
    connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_type(parts.hostname, parts.port, timeout=TIMEOUT)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    body = json.dumps(payload).encode("utf-8")
    try:
        try:
            connection.connect()
        except OSError as err:
            raise Undelivered(f"cannot connect to the webhook ({_name(err)})") from None
        try:
            connection.request("POST", path, body=body, headers={"Content-Type": "application/json",
                                                                  "User-Agent": "incidents-notifier"})
            status = connection.getresponse().status
        except (OSError, http.client.HTTPException) as err:
            raise Uncertain(f"connection lost while posting to the webhook ({_name(err)})") from None
    finally:
        connection.close()
    if status >= 500:  # a server error (or a proxy's timeout) proves nothing: the post may have been made
        raise Uncertain(f"the webhook answered HTTP {status}")
    if not 200 <= status < 300:  # refused (4xx: rate limited, bad request, no such hook) or redirected: not posted
        raise Undelivered(f"the webhook answered HTTP {status}")


def _name(err) -> str:
    return type(err).__name__
