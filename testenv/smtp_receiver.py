"""A tiny SMTP receiver for the tests (aiosmtpd, pinned in scripts/test.sh).

    smtp_receiver.py PORT FOLDER USER PASSWORD

Listens on 127.0.0.1:PORT, requires AUTH (PLAIN or LOGIN) as USER / PASSWORD, allowed
without TLS since it is loopback only, and saves each message as FOLDER/<n>.eml (written
whole, then renamed), after a first line `X-Authenticated-As: <user>`.
"""

import itertools
import pathlib
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, folder, user, password = int(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3], sys.argv[4]
numbers = itertools.count(1)


class Save:
    async def handle_DATA(self, server, session, envelope):
        n = next(numbers)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else ""
        head = f"X-Authenticated-As: {login}\r\n".encode()
        tmp = folder / f"{n}.tmp"
        tmp.write_bytes(head + envelope.original_content)
        tmp.rename(folder / f"{n}.eml")
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == user
        and auth_data.password.decode() == password
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


controller = Controller(
    Save(),
    hostname="127.0.0.1",
    port=port,
    authenticator=authenticate,
    auth_required=True,
    auth_require_tls=False,
)
controller.start()
threading.Event().wait()
