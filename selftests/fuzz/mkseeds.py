#!/usr/bin/env python3
"""Seed corpora.  fuzz_xlate: well-formed legacy rings (both byte orders,
several sizes, chains, header modes, virtio-blk requests, wrap-around), each followed by kicks,
back-end completions of what was published, and guest rewrites.  The
fuzzer mutates from there.  fuzz_vu_wire: vhost-user message streams
(a QEMU-like set-up sequence, fds passed, a split header, a bad version, an
oversized payload).  fuzz_proxy: whole VMM sessions (legacy cross-endian
and modern), a reconnect, a reset, a second memory table, a deferred kick.
fuzz_gro: batches of TCP segments (IPv4 with timestamps, IPv6), one with
a FIN and a UDP datagram among them.  Usage:
mkseeds.py CORPUS_DIR (writes fuzz_xlate/, fuzz_vu_wire/, fuzz_proxy/, fuzz_gro/)"""
import os
import struct
import sys


def ring(size, be, chains, start, hdr_len=0):
    e = '>' if be else '<'
    desc = bytearray(16 * size)
    heads = []
    d = 0
    for n, nwrite in chains:
        head = d % size
        for k in range(n):
            i = (d + k) % size
            flags = (1 if k + 1 < n else 0) | (2 if k >= n - nwrite else 0)
            length = hdr_len if (k == 0 and hdr_len) else 16
            struct.pack_into(e + 'QIHH', desc, 16 * i, 0x8000 + 64 * i, length, flags,
                             (i + 1) % size)
        d += n
        heads.append(head)
    avail = bytearray(4 + 2 * size)
    struct.pack_into(e + 'HH', avail, 0, 0, (start + len(heads)) & 0xffff)
    for k, h in enumerate(heads):
        struct.pack_into(e + 'H', avail, 4 + 2 * ((start + k) % size), h)
    return bytes(desc + avail), heads


def indirect_ring(size, be, tables, start, hdr_len=0):
    """Rings whose chains sit behind INDIRECT descriptors: descriptor i of
    the ring heads a table of n entries (the last nwrite device-writable),
    the table itself further up the ring's own descriptor table, which is
    guest memory the fuzzer writes."""
    e = '>' if be else '<'
    desc = bytearray(16 * size)
    heads = []
    at = len(tables)
    for i, (n, nwrite) in enumerate(tables):
        struct.pack_into(e + 'QIHH', desc, 16 * i, 4096 + 16 * at, 16 * n, 4, 0)
        for k in range(n):
            flags = (1 if k + 1 < n else 0) | (2 if k >= n - nwrite else 0)
            length = hdr_len if (k == 0 and hdr_len) else 16
            struct.pack_into(e + 'QIHH', desc, 16 * (at + k), 0x8000 + 64 * (at + k), length, flags,
                             k + 1 if k + 1 < n else 0)
        at += n
        heads.append(i)
    avail = bytearray(4 + 2 * size)
    struct.pack_into(e + 'HH', avail, 0, 0, (start + len(heads)) & 0xffff)
    for k, h in enumerate(heads):
        struct.pack_into(e + 'H', avail, 4 + 2 * ((start + k) % size), h)
    return bytes(desc + avail), heads


def seed(be, size_log, mode, hdr12, chains, start, ops):
    size = 2 << size_log
    head = bytes([(be & 1) | (size_log << 1) | (mode << 4) | (0x40 if hdr12 else 0) |
                  (0x80 if start >= 0xff00 else 0), 0, start & 0xff])
    # a header in its own descriptor (TX or RX slot modes) has the header's length;
    # mode 0 with the 12-byte bit is virtio-blk, whose request header is 16 bytes
    img, heads = ring(size, be, chains, start, (12 if hdr12 else 10) if mode in (1, 2) else
                      16 if mode == 0 and hdr12 else 0)
    return head + img + bytes(ops)


def iseed(be, size_log, mode, hdr12, tables, start, ops):
    size = 2 << size_log
    head = bytes([(be & 1) | (size_log << 1) | (mode << 4) | (0x40 if hdr12 else 0) |
                  (0x80 if start >= 0xff00 else 0), 0, start & 0xff])
    img, heads = indirect_ring(size, be, tables, start, (12 if hdr12 else 10) if mode in (1, 2) else
                               16 if mode == 0 and hdr12 else 0)
    return head + img + bytes(ops)


def vu(request, payload=b'', flags=1):
    return struct.pack('<III', request, flags, len(payload)) + payload


def vu_seeds():
    u64 = lambda v: struct.pack('<Q', v)
    state = lambda i, n: struct.pack('<II', i, n)
    mem = struct.pack('<II', 1, 0) + struct.pack('<QQQQ', 0x100000, 1 << 22, 0x7f0000000000, 0)
    addr = struct.pack('<II', 0, 0) + struct.pack('<QQQQ', 0x7f0000010000, 0x7f0000014000,
                                                   0x7f0000011000, 0)
    setup = (vu(1) + vu(15) + vu(16, u64(1 << 5)) + vu(3) + vu(2, u64(1 << 30)) +
             vu(5, mem) + vu(8, state(0, 256)) + vu(10, state(0, 0)) + vu(23, state(0, 1)) +
             vu(9, addr) + vu(12, u64(0)) + vu(13, u64(0)) + vu(11, state(0, 0)))
    return {
        # [0] fds passed, [1..2] where the first write ends
        'setup': bytes([0, 0, 0]) + setup,
        'setup-fds': bytes([3, 40, 0]) + setup,
        'split-header': bytes([1, 5, 0]) + vu(12, u64(0)) + vu(13, u64(0)),
        'bad-version': bytes([0, 0, 0]) + vu(1, flags=2),
        'oversized': bytes([0, 0, 0]) + struct.pack('<III', 5, 1, 8192) + b'\0' * 64,
        'many-fds': bytes([12, 0, 0]) + vu(5, mem),
    }


def rec(msg, nfds=0, memfd=False, reconnect=False, deferred=False):
    # fuzz_proxy: [ctl][len, 2 bytes LE][bytes]; ctl bits 0-1 fds, 2 memfds, 3 reconnect,
    # 4 BPF deferred a kick on both rings
    ctl = nfds | (4 if memfd else 0) | (8 if reconnect else 0) | (16 if deferred else 0)
    return bytes([ctl]) + struct.pack('<H', len(msg)) + msg


def proxy_seeds():
    u64 = lambda v: struct.pack('<Q', v)
    state = lambda i, n: struct.pack('<II', i, n)
    mem = struct.pack('<II', 1, 0) + struct.pack('<QQQQ', 0x100000, 1 << 20, 0x7f0000000000, 0)

    def addr(i):
        base = 0x7f0000010000 + 0x20000 * i
        return struct.pack('<II', i, 0) + struct.pack('<QQQQ', base, base + 0x4000, base + 0x1000, 0)

    def ring(i, endian=True):
        r = rec(vu(8, state(i, 256))) + rec(vu(10, state(i, 0)))
        if endian:
            r += rec(vu(23, state(i, 1)))
        return (r + rec(vu(9, addr(i))) + rec(vu(12, u64(i)), 1) + rec(vu(13, u64(i)), 1) +
                rec(vu(18, state(i, 1))))

    legacy = (rec(vu(1)) + rec(vu(15)) + rec(vu(16, u64(1 << 6))) + rec(vu(3)) +
              rec(vu(2, u64((1 << 30) | (1 << 15)))) + rec(vu(5, mem), 1, True) +
              ring(0) + ring(1))
    modern = (rec(vu(1)) + rec(vu(15)) + rec(vu(16, u64(0))) + rec(vu(3)) +
              rec(vu(2, u64((1 << 32) | (1 << 30)))) + rec(vu(5, mem), 1, True) +
              ring(0, False) + ring(1, False))
    stop = rec(vu(11, state(0, 0))) + rec(vu(11, state(1, 0)))
    return {
        'legacy-session': legacy + stop,
        'modern-session': modern + stop,
        'legacy-reconnect': legacy[:-23] + rec(vu(18, state(1, 1)), reconnect=True) + legacy,
        'reset-and-again': legacy + rec(vu(4)) + legacy,
        'mem-table-twice': legacy + rec(vu(5, mem), 1, True) + stop,
        'kick-no-fd': rec(vu(1)) + rec(vu(12, u64(0))),
        'legacy-deferred': legacy + rec(b'', deferred=True) + stop,
    }


def main():
    root = sys.argv[1]
    out = os.path.join(root, 'fuzz_proxy')
    os.makedirs(out, exist_ok=True)
    for name, data in proxy_seeds().items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
    out = os.path.join(root, 'fuzz_vu_wire')
    os.makedirs(out, exist_ok=True)
    for name, data in vu_seeds().items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
    out = os.path.join(root, 'fuzz_xlate')
    os.makedirs(out, exist_ok=True)
    kick = [0, 0, 0, 0]
    use_next = [1, 0, 0, 9]          # return the next published head, 32 bytes
    seeds = {
        'le-singles': seed(0, 3, 0, 0, [(1, 0)] * 8, 0, kick + use_next * 4 + kick),
        'be-singles': seed(1, 3, 0, 0, [(1, 0)] * 8, 0, kick + use_next * 8),
        'be-chains': seed(1, 4, 0, 0, [(3, 1), (2, 2), (1, 1)], 0, kick + use_next * 3),
        'be-wrap': seed(1, 2, 0, 0, [(1, 0)] * 6, 0xfffd, kick + use_next * 6 + kick),
        'be-tx-slot': seed(1, 3, 1, 1, [(2, 0)] * 4, 0, kick + use_next * 4),
        'be-rx-slot': seed(1, 3, 2, 0, [(2, 2)] * 4, 0, kick + use_next * 4),
        'be-rx-inplace': seed(1, 3, 3, 1, [(1, 1)] * 4, 0, kick + use_next * 4),
        # requests: a read (header, data, status), a flush, a write
        'be-blk': seed(1, 3, 0, 1, [(3, 2), (2, 1), (3, 1)] * 2, 0, kick + use_next * 6),
        'le-blk-wrap': seed(0, 3, 0, 1, [(3, 2), (2, 1), (3, 1)], 0xfffe, kick + use_next * 3 + kick),
        'le-rewrite': seed(0, 3, 0, 0, [(1, 0)] * 4, 0,
                           kick + [2, 8, 0, 0] + [3, 1, 2, 0] + kick + use_next * 2),
        'be-256': seed(1, 7, 0, 0, [(1, 0)] * 64, 0, kick + use_next * 16 + kick),
        # a poller's first part (16 chains, vrm_ux_kick_some), then the rest
        'be-first-part': seed(1, 6, 0, 0, [(1, 0)] * 40, 0,
                              [0, 16, 0, 0] + use_next * 16 + kick + use_next * 24),
        # chains behind indirect descriptors, tables in the descriptor table
        'be-indirect': iseed(1, 4, 0, 0, [(3, 1), (2, 2), (4, 0)], 0, kick + use_next * 3),
        'le-indirect-wrap': iseed(0, 3, 0, 0, [(2, 1), (1, 0)], 0xffff, kick + use_next * 2 + kick),
        'be-indirect-tx-slot': iseed(1, 4, 1, 0, [(2, 0), (3, 0)], 0, kick + use_next * 2),
        'be-indirect-blk': iseed(1, 4, 0, 1, [(3, 2), (2, 1)], 0, kick + use_next * 2),
        # a table whose entry is rewritten (a link out of it) before the kick
        'le-indirect-rewrite': iseed(0, 3, 0, 0, [(3, 1)], 0, [2, 30, 0, 9] + kick + use_next),
        'be-rx-merge-scribble': merge_scribble_seed(),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


def merge_scribble_seed():
    """A big-endian 4-entry RX ring, buffers in place with 12-byte headers:
    the back-end's header of the first buffer says num_buffers 2, so the
    packet stays open after it; the guest then writes its own used idx and
    the back-end returns a head not in flight (the device breaks with the
    packet open).  The idx is the guest's value, not a commit of ours."""
    desc = struct.pack('>QIHH', 4352, 64, 2, 0) + struct.pack('>QIHH', 4480, 64, 2, 0)
    desc += bytes(32)
    avail = struct.pack('>6H', 0, 2, 0, 1, 0, 0)
    ops = [2, 10, 1, 2,          # num_buffers 2 in the first buffer's header
           0, 0, 0, 0,           # kick
           1, 0, 0, 3,           # the first buffer back, 24 bytes
           2, 0x02, 0x10, 197,   # the guest writes its used idx
           1, 0xff, 0xff, 2]     # a head not in flight
    return bytes([0x73, 0, 0]) + desc + avail + bytes(ops)


def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def tcp_frame(v6, seq, plen, flags=0x10, ts=None, proto=6):
    eth = bytes.fromhex('525400123456020000000002') + (b'\x86\xdd' if v6 else b'\x08\x00')
    opts = b'\x01\x01\x08\x0a' + struct.pack('!II', ts, 99) if ts is not None else b''
    pay = bytes((seq + i) * 7 & 0xff for i in range(plen))
    if proto == 6:
        l4 = struct.pack('!HHIIBBHHH', 8080, 40000, seq, 777, (20 + len(opts)) // 4 << 4, flags,
                         500, 0, 0) + opts + pay
    else:
        l4 = struct.pack('!HHHH', 53, 4000, 8 + plen, 0) + pay
    if v6:
        src, dst = b'\xfd' + b'\0' * 14 + b'\x02', b'\xfd' + b'\0' * 14 + b'\x0f'
        ip = struct.pack('!IHBB', 0x60000000, len(l4), proto, 64) + src + dst
        pseudo = src + dst + struct.pack('!IxxxB', len(l4), proto)
    else:
        src, dst = bytes([10, 0, 2, 2]), bytes([10, 0, 2, 15])
        ip = bytearray(struct.pack('!BBHHHBBH', 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0) + src + dst)
        struct.pack_into('!H', ip, 10, csum(bytes(ip)))
        ip = bytes(ip)
        pseudo = src + dst + struct.pack('!xBH', proto, len(l4))
    l4 = bytearray(l4)
    struct.pack_into('!H', l4, 16 if proto == 6 else 6, csum(pseudo + bytes(l4)))
    return eth + ip + bytes(l4)


def gro_seed(offloads, frames):
    return bytes([offloads]) + b''.join(struct.pack('<H', len(f)) + f for f in frames)


def gro_seeds(root):
    out = os.path.join(root, 'fuzz_gro')
    os.makedirs(out, exist_ok=True)
    seeds = {
        'v4-ts': gro_seed(7, [tcp_frame(False, 1000 + 300 * i, 300, ts=10 + i) for i in range(5)]),
        'v6': gro_seed(7, [tcp_frame(True, 5 + 200 * i, 200) for i in range(4)]),
        'fin-udp': gro_seed(7, [tcp_frame(False, 0, 100), tcp_frame(False, 100, 100),
                                tcp_frame(False, 200, 0, flags=0x11), tcp_frame(False, 0, 12, proto=17),
                                tcp_frame(False, 201, 100)]),
        'csum-only': gro_seed(1, [tcp_frame(False, 0, 100), tcp_frame(True, 100, 100)]),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
    gro_seeds(sys.argv[1])
