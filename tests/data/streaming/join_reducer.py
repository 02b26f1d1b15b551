#!/usr/bin/env python3
"""Join, reduce side: `uid TAB name TAB oid TAB amount` for every order of a
known user; orders of unknown users are dropped."""
import sys

out = sys.stdout.buffer
uid, name = None, None
for line in sys.stdin.buffer:
    fields = line.rstrip(b"\n").split(b"\t")
    if fields[1] == b"0":
        uid, name = fields[0], fields[2]
    elif fields[0] == uid:
        out.write(b"\t".join([uid, name, fields[2], fields[3]]) + b"\n")
