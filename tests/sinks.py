"""Real servers on loopback that receive what the notifier sends: SMTP (aiosmtpd) and an incoming webhook (HTTP)."""
import asyncio
import datetime
import email
import email.policy
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.net import free_port


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts.

    `refuse` answers the next n messages with 451 after their data; `drop` closes the connection
    after the next n messages' data without answering (the client cannot know if they arrived); `delay`
    waits that many seconds before answering each message's data.
    With `tls_dir`, it offers STARTTLS with a self-signed certificate and requires a login.
    """

    def __init__(self, tls_dir=None, login=("mailer", "mail-pass")):
        self.received, self.raw, self.logins = [], [], []
        self.refuse = self.drop = 0
        self.delay = 0.0
        self.port = free_port()
        self._login = login
        kwargs = {}
        if tls_dir is not None:
            self.ca_file = _self_signed(tls_dir)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls_dir / "cert.pem", tls_dir / "key.pem")
            kwargs = {"tls_context": context, "require_starttls": True, "auth_required": True,
                      "authenticator": self._authenticate}
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login.decode(), auth_data.password.decode()) == self._login
        self.logins.append((auth_data.login.decode(), ok, session.ssl is not None))
        return AuthResult(success=ok)

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.drop:
            self.drop -= 1
            server.transport.close()
            return "250 OK"  # never reaches the client: the connection is gone
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        self.raw.append(envelope.content)
        self.received.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def to(self, address):
        """The messages accepted for `address`."""
        return [m for m in self.received if m["To"] == address]

    def stop(self):
        """Stop listening (again is fine): the port then refuses connections."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class WebhookSink:
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it; `fail` answers the next n with
    `fail_status` (429 by default, what Slack and Discord answer when rate limited: not posted), keeping nothing."""

    def __init__(self):
        self.bodies, self.fail, self.fail_status, self.refused = [], 0, 429, 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if sink.fail:
                    sink.fail -= 1
                    sink.refused += 1
                    self.send_response(sink.fail_status)
                else:
                    sink.bodies.append(json.loads(body))
                    self.send_response(204)  # what Discord answers
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/secret-path-token"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


def _self_signed(directory):
    """A certificate for 127.0.0.1 (its own CA); returns the file a client must trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    return directory / "cert.pem"
