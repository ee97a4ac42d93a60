#!/usr/bin/env python3
"""Host side of the wse-vm control channel: reads commands the guest writes to
/dev/ttyS1 (a chardev socket) and forwards the allowed ones to QEMU's QMP."""
import json
import socket
import sys
import time

ALLOWED = {"device_del"}


def connect(path):
    for _ in range(300):
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            return sock
        except OSError:
            time.sleep(0.1)
    sys.exit(0)


def qmp(path, command, arguments):
    sock = connect(path)
    f = sock.makefile("rw")
    f.readline()  # greeting
    f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
    f.flush()
    f.readline()
    f.write(json.dumps({"execute": command, "arguments": arguments}) + "\n")
    f.flush()
    reply = f.readline()
    sock.close()
    return reply


def main():
    ctl_path, qmp_path = sys.argv[1], sys.argv[2]
    ctl = connect(ctl_path).makefile("r", errors="replace")
    for line in ctl:
        words = line.strip().split()
        if len(words) == 2 and words[0] in ALLOWED:
            reply = qmp(qmp_path, words[0], {"id": words[1]})
            sys.stderr.write(f"wse-vm: {words[0]} {words[1]}: {reply.strip()}\n")


if __name__ == "__main__":
    main()
