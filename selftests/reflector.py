#!/usr/bin/env python3
"""A stand-in for testpmd's io forwarding on one interface, for checking
guest-traffic's checker (selftests/test_guest.sh): sends back every frame
of the traffic tool's ethertype and spoils every 100th as MODE says.

  reflector.py IFACE clean|corrupt|dup|loss|swap|relay

corrupt flips one payload bit, dup sends the frame twice, loss drops it.
For the XDP back-end's tests, which must tell the frame coming back from
the one that went out: swap sends it back to its sender alone (destination
its source MAC, source IFACE's: unicast, steered), relay to the same
destination from IFACE (broadcast stays broadcast).
Runs until killed."""
import socket
import sys

ETHERTYPE = 0x88b5
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23
SO_RCVBUFFORCE = 33


def main(iface, mode):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
    # What it sends itself would share the receive buffer with what it must
    # answer (a broadcast comes back to it): left out, and room for bursts.
    s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20)
    s.bind((iface, ETHERTYPE))
    mine = s.getsockname()[4][:6]
    n = 0
    while True:
        frame, addr = s.recvfrom(4096)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        n += 1
        spoil = n % 100 == 0 and mode not in ("swap", "relay")
        if spoil and mode == "loss":
            continue
        if spoil and mode == "corrupt":
            frame = frame[:50] + bytes([frame[50] ^ 1]) + frame[51:]
        if mode == "swap":
            frame = frame[6:12] + mine + frame[12:]
        elif mode == "relay":
            frame = frame[:6] + mine + frame[12:]
        s.send(frame)
        if spoil and mode == "dup":
            s.send(frame)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in ("clean", "corrupt", "dup", "loss", "swap", "relay"):
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1], sys.argv[2])
