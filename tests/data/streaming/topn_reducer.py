#!/usr/bin/env python3
"""Top-N, reduce side: sums counts per key, then prints the N keys with the
largest totals (ties by key), N from $TOP_N (default 10)."""
import os
import sys

n = int(os.environ.get("TOP_N", "10"))
totals = {}
for line in sys.stdin.buffer:
    key, _, count = line.rstrip(b"\n").partition(b"\t")
    totals[key] = totals.get(key, 0) + int(count)
for key, total in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:n]:
    sys.stdout.buffer.write(b"%s\t%d\n" % (key, total))
