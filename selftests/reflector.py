#!/usr/bin/env python3
"""A stand-in for testpmd's io forwarding on one interface, for checking
guest-traffic's checker (selftests/test_guest.sh): sends back every frame
of the traffic tool's ethertype and spoils every 100th as MODE says.

  reflector.py IFACE clean|corrupt|dup|loss

corrupt flips one payload bit, dup sends the frame twice, loss drops it.
Runs until killed."""
import socket
import sys

ETHERTYPE = 0x88b5


def main(iface, mode):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
    s.bind((iface, ETHERTYPE))
    n = 0
    while True:
        frame, addr = s.recvfrom(4096)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        n += 1
        spoil = n % 100 == 0
        if spoil and mode == "loss":
            continue
        if spoil and mode == "corrupt":
            frame = frame[:50] + bytes([frame[50] ^ 1]) + frame[51:]
        s.send(frame)
        if spoil and mode == "dup":
            s.send(frame)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in ("clean", "corrupt", "dup", "loss"):
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1], sys.argv[2])
