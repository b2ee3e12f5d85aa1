"""A real SMTP server on loopback for msghub's email channel tests.

aiosmtpd accepts every mail; each one is printed on standard output as one JSON line: the
envelope, the headers (decoded by Python's `email` package), the MIME parts and their
decoded contents, the parser's defects, and the raw message. The first line is
{"ready": <port>}. Closing standard input stops the server.
"""

import json
import socket
import sys
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


class PrintEachMail:
    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        parts = []
        if message.is_multipart():
            for part in message.iter_parts():
                parts.append({
                    "content_type": part.get_content_type(),
                    "charset": part.get_content_charset(),
                    "transfer_encoding": part.get("Content-Transfer-Encoding"),
                    "content": part.get_content(),
                })
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": [[name, str(value)] for name, value in message.items()],
            "content_type": message.get_content_type(),
            "defects": [repr(d) for d in message.defects]
            + [repr(d) for part in message.walk() for d in part.defects],
            "parts": parts,
            "raw": envelope.content.decode("utf-8", "replace"),
        }
        print(json.dumps(record, ensure_ascii=False), flush=True)
        return "250 2.0.0 accepted by the test relay"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


port = free_port()
controller = Controller(PrintEachMail(), hostname="127.0.0.1", port=port)
controller.start()
print(json.dumps({"ready": port}), flush=True)
sys.stdin.read()
controller.stop()
