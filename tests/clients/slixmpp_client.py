#!/usr/bin/python3
"""
A slixmpp (python3-slixmpp 1.8) client driven by the Deno tests.

It connects over STARTTLS (default) or direct TLS (XEP-0368, --direct-tls), accepting the test
server's self-signed certificate, optionally registers the account in-band first (XEP-0077), logs
in, and then, in this order: changes its password (--change-password), cancels its registration
(--cancel), sends one chat message to --peer and waits for one chat message back.

Everything it observes is printed on stdout as one JSON object per line ({"event": ...}), so the
test can follow along and answer. Exit status: 0 when every step succeeded, 1 on a failure (an
"error" event says which step and which condition), 2 when --timeout ran out.
"""
import argparse
import asyncio
import json
import logging
import ssl
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


class Client(slixmpp.ClientXMPP):
    def __init__(self, args):
        super().__init__(args.jid, args.password)
        self.args = args
        self.finished = asyncio.get_running_loop().create_future()
        # The test server's certificate is self-signed for "localhost".
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.register_plugin("xep_0077")
        if args.register:
            self.add_event_handler("register", self.on_register)
            # slixmpp 1.8 queues every stanza until the session starts, the pre-login
            # jabber:iq:register iqs included ("NOT SENT" in its debug log), so in-band
            # registration never goes out. Nothing else is sent before session_start here.
            self._always_send_everything = True
        else:
            self["xep_0077"].create_account = False
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("failed_auth", self.on_failed_auth)
        self.add_event_handler("stream_error", self.on_stream_error)
        self.add_event_handler("connection_failed", self.on_connection_failed)
        self.add_event_handler("disconnected", self.on_disconnected)

    def finish(self, code):
        if not self.finished.done():
            self.finished.set_result(code)

    async def on_register(self, form):
        iq = self.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = self.boundjid.user
        iq["register"]["password"] = self.password
        try:
            await iq.send(timeout=10)
        except IqError as e:
            emit("error", stage="register", condition=e.iq["error"]["condition"])
            self.finish(1)
            self.disconnect()
            return
        except IqTimeout:
            emit("error", stage="register", condition="timeout")
            self.finish(1)
            self.disconnect()
            return
        emit("registered", username=self.boundjid.user)

    async def on_start(self, _event):
        self.send_presence()
        emit("session_start", jid=str(self.boundjid), encrypted=self.is_secure())
        step = "change-password"
        try:
            if self.args.change_password:
                await self["xep_0077"].change_password(self.args.change_password, timeout=10)
                emit("password_changed")
            step = "cancel"
            if self.args.cancel:
                await self["xep_0077"].cancel_registration(timeout=10)
                emit("cancelled")
        except IqError as e:
            emit("error", stage=step, condition=e.iq["error"]["condition"])
            self.finish(1)
            return
        except IqTimeout:
            emit("error", stage=step, condition="timeout")
            self.finish(1)
            return
        if self.args.peer:
            self.send_message(mto=self.args.peer, mbody=self.args.say, mtype="chat")
            emit("sent", to=self.args.peer, body=self.args.say)
        else:
            self.finish(0)

    def on_message(self, msg):
        if msg["type"] not in ("chat", "normal") or not msg["body"]:
            return
        emit("message", **{"from": str(msg["from"]), "to": str(msg["to"]), "body": msg["body"]})
        if self.args.peer:
            self.finish(0)

    def on_failed_auth(self, _stanza):
        emit("error", stage="auth", condition="failed_auth")
        self.finish(1)

    def on_stream_error(self, error):
        emit("stream_error", condition=error["condition"])

    def on_connection_failed(self, error):
        emit("error", stage="connect", condition=str(error))
        self.finish(1)

    def on_disconnected(self, _reason):
        emit("disconnected")
        if not self.finished.done():
            emit("error", stage="stream", condition="disconnected before finishing")
        self.finish(1)

    def is_secure(self):
        return self.transport is not None and self.transport.get_extra_info("sslcontext") is not None


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--direct-tls", action="store_true", help="XEP-0368 TLS port, no STARTTLS")
    p.add_argument("--register", action="store_true", help="in-band registration first")
    p.add_argument("--change-password")
    p.add_argument("--cancel", action="store_true", help="remove the account after login")
    p.add_argument("--peer", help="send one chat message here, then wait for one back")
    p.add_argument("--say", default="hello from slixmpp")
    p.add_argument("--timeout", type=float, default=20)
    p.add_argument("--debug", action="store_true", help="slixmpp's debug log on stderr")
    args = p.parse_args()
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)-8s %(message)s")

    xmpp = Client(args)
    if args.direct_tls:
        xmpp.connect((args.host, args.port), use_ssl=True, force_starttls=False,
                     disable_starttls=True)
    else:
        xmpp.connect((args.host, args.port), force_starttls=True)
    try:
        code = await asyncio.wait_for(xmpp.finished, args.timeout)
    except asyncio.TimeoutError:
        emit("error", stage="timeout", condition=f"nothing finished within {args.timeout} s")
        code = 2
    if xmpp.transport is not None:
        try:
            await asyncio.wait_for(xmpp.disconnect(wait=1), 3)
        except asyncio.TimeoutError:
            xmpp.abort()
    emit("exit", code=code)
    return code


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
