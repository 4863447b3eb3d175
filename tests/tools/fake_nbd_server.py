#!/usr/bin/python3
"""A misbehaving NBD server for kcorefs' bad-server tests (python3 stdlib only).

It speaks the fixed newstyle handshake (NBD_OPT_GO / NBD_OPT_INFO / NBD_OPT_EXPORT_NAME;
every other option gets NBD_REP_ERR_UNSUP, so clients fall back to simple replies) and
answers NBD_CMD_READ from FILE with simple replies. What it does wrong is chosen by the
first word of the control file, re-read at every connection and every request, so a test
mounts in `normal` mode and then flips it:

  normal        correct replies
  bad-magic     a read reply whose magic is garbage (then the right error/handle/data)
  wrong-handle  a read reply carrying another request's handle (cookie)
  short-close   a read reply header and half the data, then the connection is closed
  no-answer     reads are received and never answered (the connection stays open)
  error-reply   a well-formed reply with NBD_EIO
  hs-garbage    (at connect) garbage instead of the NBDMAGIC greeting, then close

--size N claims an export size of N bytes (a size bigger than FILE: reads past FILE's end
get a short reply and a close, as `short-close`; `--past-end error` makes them NBD_EIO
replies instead).

Every connection and request is logged, one line each, to --log:
  conn N
  read N OFFSET LENGTH MODE
so a test can name the offsets the client asked for while a mode was in force.

Usage: fake_nbd_server.py FILE (--unix PATH | --tcp HOST:PORT) --control CTRL --log LOG
                          [--size N] [--past-end short|error] [--pidfile PID]
"""

import argparse
import os
import socket
import struct
import sys
import threading

NBDMAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
OPT_REPLY_MAGIC = 0x3E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698

FLAG_FIXED_NEWSTYLE, FLAG_NO_ZEROES = 1, 2
OPT_EXPORT_NAME, OPT_ABORT, OPT_INFO, OPT_GO = 1, 2, 6, 7
REP_ACK, REP_INFO = 1, 3
REP_ERR_UNSUP = (1 << 31) + 1
INFO_EXPORT = 0
TFLAG_HAS_FLAGS, TFLAG_READ_ONLY = 1, 2
CMD_READ, CMD_DISC = 0, 2
NBD_EIO, NBD_EINVAL = 5, 22


class Closed(Exception):
    pass


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise Closed()
        buf += chunk
    return bytes(buf)


class Server:
    def __init__(self, args):
        self.data_path = args.file
        self.data_size = os.path.getsize(args.file)
        self.export_size = args.size if args.size is not None else self.data_size
        self.past_end = args.past_end
        self.control = args.control
        self.log_f = open(args.log, "a", buffering=1)
        self.log_lock = threading.Lock()
        self.conns = 0

    def mode(self):
        try:
            with open(self.control) as f:
                words = f.read().split()
            return words[0] if words else "normal"
        except OSError:
            return "normal"

    def log(self, line):
        with self.log_lock:
            self.log_f.write(line + "\n")

    def serve(self, sock):
        with self.log_lock:
            self.conns += 1
            n = self.conns
        self.log("conn %d" % n)
        try:
            with sock, open(self.data_path, "rb") as data:
                if self.mode() == "hs-garbage":
                    sock.sendall(b"NOTNBD!!" * 3)
                    return
                if self.handshake(sock):
                    self.transmission(sock, data, n)
        except (Closed, ConnectionError, BrokenPipeError):
            pass
        self.log("closed %d" % n)

    def opt_reply(self, sock, opt, rtype, payload=b""):
        sock.sendall(struct.pack(">QIII", OPT_REPLY_MAGIC, opt, rtype, len(payload)) + payload)

    def handshake(self, sock):
        sock.sendall(struct.pack(">QQH", NBDMAGIC, IHAVEOPT, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES))
        (cflags,) = struct.unpack(">I", recv_exact(sock, 4))
        tflags = TFLAG_HAS_FLAGS | TFLAG_READ_ONLY
        while True:
            magic, opt, length = struct.unpack(">QII", recv_exact(sock, 16))
            if magic != IHAVEOPT or length > (1 << 20):
                return False
            payload = recv_exact(sock, length)
            if opt == OPT_EXPORT_NAME:
                reply = struct.pack(">QH", self.export_size, tflags)
                if not cflags & FLAG_NO_ZEROES:
                    reply += bytes(124)
                sock.sendall(reply)
                return True
            if opt == OPT_ABORT:
                self.opt_reply(sock, opt, REP_ACK)
                return False
            if opt in (OPT_INFO, OPT_GO):
                info = struct.pack(">HQH", INFO_EXPORT, self.export_size, tflags)
                self.opt_reply(sock, opt, REP_INFO, info)
                self.opt_reply(sock, opt, REP_ACK)
                if opt == OPT_GO:
                    return True
                continue
            self.opt_reply(sock, opt, REP_ERR_UNSUP)

    def reply(self, sock, error, handle, payload=b"", magic=SIMPLE_REPLY_MAGIC):
        sock.sendall(struct.pack(">IIQ", magic, error, handle) + payload)

    def transmission(self, sock, data, n):
        while True:
            magic, _flags, cmd, handle, off, length = struct.unpack(">IHHQQI", recv_exact(sock, 28))
            if magic != REQUEST_MAGIC:
                return
            if cmd == CMD_DISC:
                return
            if cmd != CMD_READ:
                self.reply(sock, NBD_EINVAL, handle)
                continue
            mode = self.mode()
            self.log("read %d %d %d %s" % (n, off, length, mode))
            if off + length > self.export_size:
                self.reply(sock, NBD_EINVAL, handle)
                continue
            data.seek(off)
            payload = data.read(length)
            if len(payload) < length and mode == "normal":
                mode = "error-reply" if self.past_end == "error" else "short-close"
            if mode == "normal":
                self.reply(sock, 0, handle, payload)
            elif mode == "bad-magic":
                self.reply(sock, 0, handle, payload, magic=0xDEADBEEF)
            elif mode == "wrong-handle":
                self.reply(sock, 0, handle ^ 0x5A5A5A5A5A5A5A5A, payload)
            elif mode == "short-close":
                sock.sendall(struct.pack(">IIQ", SIMPLE_REPLY_MAGIC, 0, handle) + payload[: len(payload) // 2])
                sock.shutdown(socket.SHUT_RDWR)
                return
            elif mode == "no-answer":
                continue
            elif mode == "error-reply":
                self.reply(sock, NBD_EIO, handle)
            else:
                self.reply(sock, NBD_EIO, handle)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--unix")
    ap.add_argument("--tcp")
    ap.add_argument("--control", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--size", type=int)
    ap.add_argument("--past-end", choices=("short", "error"), default="short")
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    if bool(a.unix) == bool(a.tcp):
        ap.error("exactly one of --unix and --tcp")
    srv = Server(a)
    if a.unix:
        try:
            os.unlink(a.unix)
        except FileNotFoundError:
            pass
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(a.unix)
    else:
        host, port = a.tcp.rsplit(":", 1)
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host, int(port)))
    ls.listen(16)
    if a.pidfile:
        with open(a.pidfile + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(a.pidfile + ".tmp", a.pidfile)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=srv.serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
