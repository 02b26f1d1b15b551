#!/usr/bin/env python3
"""Word count reducer and combiner: sums the counts of each key; input is
`key TAB count` lines grouped by key."""
import sys

out = sys.stdout.buffer
current, total = None, 0
for line in sys.stdin.buffer:
    key, _, count = line.rstrip(b"\n").partition(b"\t")
    if key != current:
        if current is not None:
            out.write(b"%s\t%d\n" % (current, total))
        current, total = key, 0
    total += int(count)
if current is not None:
    out.write(b"%s\t%d\n" % (current, total))
