#!/usr/bin/env python3
# Writes a gzip'd cpio (newc) initramfs: mkinitramfs.py OUT ROOTDIR
# (python rather than cpio(1): one dependency fewer).
import gzip, os, stat, sys

def entry(out, name, mode, data=b"", ino=[1]):
    ino[0] += 1
    hdr = "070701" + "".join("%08x" % v for v in (
        ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0))
    out.write(hdr.encode() + name.encode() + b"\0")
    out.write(b"\0" * ((4 - (110 + len(name) + 1) % 4) % 4))
    out.write(data)
    out.write(b"\0" * ((4 - len(data) % 4) % 4))

def main(dst, root):
    with gzip.open(dst, "wb", compresslevel=6) as out:
        for top, dirs, files in os.walk(root):
            dirs.sort()
            rel = os.path.relpath(top, root)
            if rel != ".":
                entry(out, rel, stat.S_IFDIR | 0o755)
            for f in sorted(files):
                p = os.path.join(top, f)
                name = os.path.normpath(os.path.join(rel, f))
                if os.path.islink(p):
                    entry(out, name, stat.S_IFLNK | 0o777, os.readlink(p).encode())
                else:
                    with open(p, "rb") as fh:
                        entry(out, name, stat.S_IFREG | (os.stat(p).st_mode & 0o777), fh.read())
        entry(out, "TRAILER!!!", 0)

main(sys.argv[1], sys.argv[2])
