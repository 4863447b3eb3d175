#!/usr/bin/python3
"""Run one shell command inside the kcorefs test guest over its control port.

Usage: ctl.py SOCKET [--timeout SECONDS] COMMAND

The guest's /init serves the virtio-serial port "kcorefs.ctl" with a busybox sh; this
client sends COMMAND (run as `sh -c COMMAND`) and an end marker, prints the command's
output and exits with its status. Exit 124 on timeout, 125 when the port is unreachable.
"""
import os
import re
import socket
import sys
import time


def main(argv):
    args = argv[1:]
    timeout = 60.0
    if len(args) >= 3 and args[1] == "--timeout":
        timeout = float(args[2])
        del args[1:3]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, cmd = args
    nonce = os.urandom(8).hex()
    end = re.compile(rb"__KCOREFS_END_%s__ (\d+)\n" % nonce.encode())
    quoted = "'" + cmd.replace("'", "'\\''") + "'"
    deadline = time.monotonic() + timeout
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(("sh -c %s </dev/null 2>&1; echo __KCOREFS_END_%s__ $?\n" %
                   (quoted, nonce)).encode())
        buf = b""
        start_marker = None
        while True:
            m = end.search(buf)
            if m:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                print("ctl.py: guest closed the control port", file=sys.stderr)
                return 125
            buf += chunk
    except socket.timeout:
        print("ctl.py: no answer from the guest within %g s to: %s" % (timeout, cmd),
              file=sys.stderr)
        return 124
    except OSError as e:
        print("ctl.py: cannot reach the guest's control port %s: %s" % (path, e),
              file=sys.stderr)
        return 125
    finally:
        s.close()
    out = buf[:m.start()]
    # Drop the guest's "ready" banner lines: they are not the command's output.
    out = re.sub(rb"^kcorefs-ctl ready\r?\n", b"", out, flags=re.M)
    sys.stdout.buffer.write(out)
    return int(m.group(1))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
