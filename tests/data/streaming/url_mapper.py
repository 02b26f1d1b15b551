#!/usr/bin/env python3
"""Top-N, map side: the URL path of each access log request, `path TAB 1`;
lines that are not requests are skipped and counted."""
import sys

out = sys.stdout.buffer
bad = 0
for line in sys.stdin.buffer:
    try:
        request = line.rstrip(b"\n").split(b'"')[1]
        path = request.split(b" ")[1].split(b"?")[0]
    except IndexError:
        bad += 1
        continue
    out.write(path + b"\t1\n")
sys.stderr.write("reporter:counter:Logs,Malformed,%d\n" % bad)
