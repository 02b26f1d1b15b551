#!/usr/bin/env python3
"""Word count mapper: `word TAB 1` per whitespace-separated word (bytes, so
any encoding passes). Counts its input lines in a user counter."""
import sys

out = sys.stdout.buffer
lines = 0
for line in sys.stdin.buffer:
    lines += 1
    for word in line.split():
        out.write(word + b"\t1\n")
sys.stderr.write("reporter:counter:WordCount,Lines,%d\n" % lines)
sys.stderr.write("reporter:status:mapped %d lines\n" % lines)
