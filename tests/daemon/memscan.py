#!/usr/bin/env python3
"""memscan.py PID HEX[,HEX...]: search every writable mapping of a live
process (heap, thread stacks, data) for the given byte strings, as root
reads /proc/PID/mem.  One line per hit: "hit secret=I mapping=NAME
offset=0xOFF"; then "hits=N".  Exit status 1 if any hit."""
import sys


def main():
    pid = sys.argv[1]
    secrets = [bytes.fromhex(h) for h in sys.argv[2].split(',') if h]
    hits = 0
    with open('/proc/%s/maps' % pid) as maps, open('/proc/%s/mem' % pid, 'rb', 0) as mem:
        for line in maps:
            f = line.split()
            if len(f) < 2 or f[1][1] != 'w':
                continue
            name = f[5] if len(f) > 5 else '[anon]'
            start, end = (int(x, 16) for x in f[0].split('-'))
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue        # a guard page, [vvar]
            for i, s in enumerate(secrets):
                at = data.find(s)
                while at >= 0:
                    print('hit secret=%d mapping=%s offset=0x%x' % (i, name, start + at))
                    hits += 1
                    at = data.find(s, at + 1)
    print('hits=%d' % hits)
    return 1 if hits else 0


if __name__ == '__main__':
    sys.exit(main())
