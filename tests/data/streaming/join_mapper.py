#!/usr/bin/env python3
"""Join, map side: users (`uid TAB name`) and orders (`oid TAB uid TAB
amount`), told apart by $mapreduce_map_input_file. Emits `uid TAB 0 TAB
name` and `uid TAB 1 TAB oid TAB amount`: with two key fields the user
sorts before that user's orders."""
import os
import sys

source = os.path.basename(os.environ["mapreduce_map_input_file"])
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    fields = line.rstrip(b"\n").split(b"\t")
    if source.startswith("users"):
        out.write(b"%s\t0\t%s\n" % (fields[0], fields[1]))
    else:
        out.write(b"%s\t1\t%s\t%s\n" % (fields[1], fields[0], fields[2]))
