#!/usr/bin/env python3
"""Word count mapper that drops the words listed in $STOP_FILE (a file of
a shipped archive) and counts them."""
import os
import sys

with open(os.environ["STOP_FILE"], "rb") as f:
    stop = set(f.read().split())
out = sys.stdout.buffer
dropped = 0
for line in sys.stdin.buffer:
    for word in line.split():
        if word in stop:
            dropped += 1
        else:
            out.write(word + b"\t1\n")
sys.stderr.write("reporter:counter:Filter,Dropped,%d\n" % dropped)
