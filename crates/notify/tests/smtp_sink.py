"""An aiosmtpd handler for the email tests: stores each accepted message,
exactly as received, as `<n>.eml` in a directory, and answers like a real
relay for two special recipients: `rejected@…` gets a permanent 550 and
`busy@…` a transient 451.

Run: PYTHONPATH=<this dir> python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_sink.Sink OUTDIR
"""

import os


class Sink:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("smtp_sink.Sink takes one argument: the output directory")
        return cls(args[0])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local == "rejected":
            return "550 5.1.1 No such user here"
        if local == "busy":
            return "451 4.3.0 Mailbox temporarily unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.out_dir, f"{self.count}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(f"X-Envelope-From: {envelope.mail_from}\r\n".encode())
            f.write(f"X-Envelope-To: {','.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(envelope.original_content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 Queued as test-" + str(self.count)
