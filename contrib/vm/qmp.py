#!/usr/bin/python3
"""Minimal QMP client for the kcorefs test guest.

Usage:
  qmp.py SOCKET dump FORMAT OUTFILE      dump-guest-memory (elf, kdump-zlib, ...), waits for it
  qmp.py SOCKET quit                     ask QEMU to exit
  qmp.py SOCKET stop                     pause the guest's CPUs (its devices stop answering)
  qmp.py SOCKET cont                     resume them
  qmp.py SOCKET cmd JSON                 run one command, print its "return" as JSON

Exit status 0 on success; on a QMP error prints the error class and description and exits 1.
"""
import json
import os
import socket
import sys
import time


class QmpError(Exception):
    pass


class Qmp:
    def __init__(self, path, timeout=120):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        greeting = self._read()
        if "QMP" not in greeting:
            raise QmpError("no QMP greeting: %r" % greeting)
        self.execute("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QmpError("QMP socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, cmd, args=None):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                continue
            if "error" in reply:
                e = reply["error"]
                raise QmpError("%s: %s: %s" % (cmd, e.get("class"), e.get("desc")))
            return reply.get("return")


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, op = argv[1], argv[2]
    try:
        q = Qmp(path)
        if op == "dump":
            fmt, out = argv[3], os.path.abspath(argv[4])
            start = time.monotonic()
            # Synchronous: QEMU stops the guest, writes the file, resumes, then answers.
            q.execute("dump-guest-memory",
                      {"paging": False, "protocol": "file:" + out, "format": fmt})
            st = q.execute("query-dump")
            if st and st.get("status") not in ("completed", None):
                raise QmpError("dump-guest-memory: status %s" % st)
            print("dump %s -> %s (%d bytes) in %.1f s" %
                  (fmt, out, os.path.getsize(out), time.monotonic() - start))
        elif op == "quit":
            try:
                q.execute("quit")
            except (QmpError, OSError):
                pass  # QEMU may close the socket before answering
        elif op in ("stop", "cont"):
            q.execute(op)
            st = q.execute("query-status")
            print("guest %s" % st.get("status"))
        elif op == "cmd":
            print(json.dumps(q.execute(json.loads(argv[3])["execute"],
                                       json.loads(argv[3]).get("arguments"))))
        else:
            print("qmp.py: unknown operation %s" % op, file=sys.stderr)
            return 2
    except (QmpError, OSError, ValueError) as e:
        print("QMP error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
