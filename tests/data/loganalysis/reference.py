#!/usr/bin/env python3
"""Single-process reference for `mapred loganalysis` (tests/tests/loganalysis.rs).

Reads local log files (plain or .gz), applies the parsing rules documented
in mapreduce/src/engine/jobs/loganalysis/parse.rs and docs/OPERATIONS.md
("Analysing logs"), written again from those rules, and prints every
section the job writes, merged, as `section<TAB>field<TAB>...` lines:
top-N sections sorted by their first figure (descending) then key, the
others sorted by line. Distinct clients are exact here; the method column
says what the job should report ("exact" up to 2048 distinct clients in a
bucket, "hll" above).

usage: reference.py [--format F] [--top N] [--bucket-secs S] [--json-fields SPEC]
                    [--year Y] FILE...
"""
import gzip
import json
import math
import re
import sys
from collections import defaultdict

MONTHS = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"]
SEVERITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]
JSON_DEFAULTS = {
    "time": ["time", "timestamp", "@timestamp", "time_iso8601", "time_local", "ts"],
    "client": ["remote_addr", "client", "client_ip", "ip", "remote_ip"],
    "request": ["request"],
    "method": ["method", "request_method"],
    "url": ["url", "uri", "path", "request_uri"],
    "status": ["status", "status_code"],
    "bytes": ["bytes", "body_bytes_sent", "bytes_sent", "size", "response_size"],
    "referrer": ["referrer", "referer", "http_referer"],
    "agent": ["user_agent", "agent", "http_user_agent"],
}
WS = b" \t\n\x0c\r"  # Rust's is_ascii_whitespace
EXACT_MAX = 2048


def days_from_civil(y, m, d):
    y = y - 1 if m <= 2 else y
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y, m, d)


def digits(s):
    if not s or len(s) > 19 or not all(48 <= c <= 57 for c in s):
        return None
    return int(s)


def epoch(y, mo, d, h, mi, s):
    if None in (y, mo, d, h, mi, s):
        return None
    if not (1 <= mo <= 12) or not (1 <= d <= 31) or h > 23 or mi > 59 or s > 60:
        return None
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s


def month(s):
    return MONTHS.index(s[:3]) + 1 if s[:3] in MONTHS else None


def clf_time(s):
    if len(s) != 26 or s[2:3] != b"/" or s[6:7] != b"/" or s[11:12] != b":" or s[20:21] != b" ":
        return None
    t = epoch(digits(s[7:11]), month(s[3:6]), digits(s[0:2]), digits(s[12:14]), digits(s[15:17]), digits(s[18:20]))
    hh, mm = digits(s[22:24]), digits(s[24:26])
    if t is None or hh is None or mm is None:
        return None
    off = hh * 3600 + mm * 60
    return {b"+": t - off, b"-": t + off}.get(s[21:22])


ISO = re.compile(rb"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})")


def iso_time(s):
    """(seconds, bytes used) of an RFC 3339 prefix of s."""
    m = ISO.match(s)
    if not m:
        return None
    t = epoch(*(int(m.group(i)) for i in range(1, 7)))
    if t is None:
        return None
    z = m.group(8)
    if z not in (b"Z", b"z"):
        off = int(z[1:3]) * 3600 + int(z[-2:]) * 60
        t = t - off if z[:1] == b"+" else t + off
    return t, m.end()


def quoted(s):
    if s[:1] != b'"':
        return None
    i = 1
    while i < len(s):
        if s[i] == 0x5C:
            i += 2
        elif s[i] == 0x22:
            return s[1:i], s[i + 1:]
        else:
            i += 1
    return None


def valid_method(m):
    return 0 < len(m) <= 32 and all(65 <= c <= 90 or c in b"-_" for c in m)


def request(r):
    if b" " not in r:
        return None
    method, target = r.split(b" ", 1)
    if not valid_method(method):
        return None
    if b" " in target and target.rsplit(b" ", 1)[1].startswith(b"HTTP/"):
        target = target.rsplit(b" ", 1)[0]
    path = target.split(b"?", 1)[0]
    if not target or not path:
        return None
    return method, path


def present(v):
    return v if v not in (None, b"", b"-") else None


def access(line, need):
    """need: common, combined, either -> (record, had referrer/agent) or None."""
    client, sep, rest = line.partition(b" ")
    if not client:
        return None
    rest = sep + rest
    i = rest.find(b" [")
    if i < 0:
        return None
    rest = rest[i + 2:]
    j = rest.find(b"]")
    if j < 0:
        return None
    t = clf_time(rest[:j])
    if t is None or rest[j + 1:j + 2] != b" ":
        return None
    q = quoted(rest[j + 2:])
    if q is None:
        return None
    req, rest = q
    if rest[:1] != b" ":
        return None
    status, _, rest = rest[1:].partition(b" ")
    rest = b" " + rest if _ else b""
    if len(status) != 3 or digits(status) is None or int(status) < 100:
        return None
    rest = rest.lstrip(b" ")
    nbytes, _, tail = rest.partition(b" ")
    tail = b" " + tail if _ else b""
    nbytes = 0 if nbytes == b"-" else digits(nbytes)
    if nbytes is None:
        return None
    ref = agent = None
    combined = False
    if need != "common":
        q1 = quoted(tail.lstrip(b" "))
        q2 = quoted(q1[1].lstrip(b" ")) if q1 else None
        if q2:
            ref, agent, combined = q1[0], q2[0], True
        elif need == "combined":
            return None
    mp = request(req)
    return dict(time=t, client=client, method=mp[0] if mp else None, path=mp[1] if mp else None,
                status=int(status), bytes=nbytes, referrer=present(ref), agent=present(agent)), combined


def jsonl(line, fields):
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict):
        return None

    def get(f):
        names = [fields[f]] if f in fields else JSON_DEFAULTS[f]
        for n in names:
            if n in obj:
                return obj[n]
        return None

    def isnum(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    tv = get("time")
    if isinstance(tv, str):
        b = tv.encode()
        it = iso_time(b)
        t = (it[0] if it[1] == len(b) else None) if it else clf_time(b)
    elif isnum(tv):
        f = float(tv)
        t = math.floor(f / 1000.0 if abs(f) >= 1e11 else f)
    else:
        t = None
    if t is None:
        return None
    sv = get("status")
    if isinstance(sv, int) and not isinstance(sv, bool) and sv >= 0:
        status = sv
    elif isinstance(sv, str) and digits(sv.strip().encode()) is not None:
        status = int(sv.strip())
    else:
        return None
    if not 100 <= status <= 999:
        return None
    bv = get("bytes")
    if bv is None or bv in ("-", ""):
        nbytes = 0
    elif isinstance(bv, int) and not isinstance(bv, bool) and bv >= 0:
        nbytes = bv
    elif isinstance(bv, str) and digits(bv.strip().encode()) is not None:
        nbytes = int(bv.strip())
    else:
        return None

    def text(f):
        v = get(f)
        if isinstance(v, str):
            return v.encode()
        if isnum(v):
            return str(v).encode()
        return None

    r = text("request")
    if r is not None:
        mp = request(r)
    else:
        m, u = present(text("method")), present(text("url"))
        mp = (m, u.split(b"?", 1)[0]) if m and u and valid_method(m) else None
    return dict(time=t, client=present(text("client")) or b"-", method=mp[0] if mp else None,
                path=mp[1] if mp else None, status=status, bytes=nbytes,
                referrer=present(text("referrer")), agent=present(text("agent")))


def pri(s):
    if s[:1] != b"<" or b">" not in s:
        return None
    end = s.index(b">")
    n = digits(s[1:end])
    if n is None or end - 1 > 3 or n > 191:
        return None
    return n, s[end + 1:]


def syslog(line, year):
    p = pri(line)
    if p is None and line[:1] == b"<":
        return None
    sev, rest = (p[0] % 8, p[1]) if p else (None, line)
    if sev is not None and len(rest) >= 2 and 49 <= rest[0] <= 57 and rest[1:2] == b" ":
        r = rfc5424(rest[2:], sev)
        return (r, "rfc5424") if r else None
    if month(rest):
        t = rest[:16]
        if len(t) < 16 or t[3:4] != b" " or t[6:7] != b" " or t[9:10] != b":" or t[12:13] != b":" or t[15:16] != b" ":
            return None
        day = digits(t[5:6]) if t[4:5] == b" " else digits(t[4:6])
        time = epoch(year, month(rest), day, digits(t[7:9]), digits(t[10:12]), digits(t[13:15]))
        if time is None:
            return None
        rest = rest[16:]
    else:
        it = iso_time(rest)
        if not it or rest[it[1]:it[1] + 1] != b" ":
            return None
        time, rest = it[0], rest[it[1] + 1:]
    host, _, rest = rest.partition(b" ")
    if not host:
        return None
    rest = rest.lstrip(b" ")
    m = re.search(rb"[\[: ]", rest)
    end = m.start() if m else len(rest)
    c = rest[end:end + 1]
    if c == b":" and end > 0:
        program, message = rest[:end], rest[end + 1:].lstrip(b" ")
    elif c == b"[" and end > 0:
        close = rest.find(b"]", end)
        if close < 0:
            return None
        after = rest[close + 1:]
        if after[:1] == b":":
            after = after[1:]
        program, message = rest[:end], after.lstrip(b" ")
    else:
        program, message = b"-", rest
    return dict(time=time, host=host, program=program, severity=sev, message=message), "rfc3164"


def rfc5424(s, sev):
    parts = s.split(b" ", 5)
    if len(parts) < 6:
        return None
    ts, host, app, _procid, _msgid, rest = parts
    it = iso_time(ts)
    if not it or it[1] != len(ts):
        return None
    if rest[:1] == b"-":
        rest = rest[1:]
    elif rest[:1] == b"[":
        while rest[:1] == b"[":
            i, inq = 1, False
            while True:
                if i >= len(rest):
                    return None
                c = rest[i]
                if c == 0x5C:
                    i += 1
                elif c == 0x22:
                    inq = not inq
                elif c == 0x5D and not inq:
                    break
                i += 1
            rest = rest[i + 1:]
    else:
        return None
    if rest == b"":
        msg = b""
    elif rest[:1] == b" ":
        msg = rest[1:]
        if msg.startswith("\ufeff".encode()):
            msg = msg[3:]
    else:
        return None
    return dict(time=it[0], host=host, program=app, severity=sev, message=msg)


def template(msg):
    out = []
    for tok in re.split(rb"[ \t\n\x0c\r]+", msg):
        if not tok:
            continue
        if re.search(rb"[0-9]", tok):
            eq = tok.find(b"=")
            pre = tok[:eq + 1] if eq >= 0 and not re.search(rb"[0-9]", tok[:eq]) else b""
            out.append(pre + b"<*>")
        else:
            out.append(tok)
    return b" ".join(out)


def looks_iso(s):
    return len(s) >= 11 and s[:4].isdigit() and s[4:5] == b"-" and s[10:11] == b"T"


def parse(line, fmt, fields, year):
    if fmt in ("combined", "nginx"):
        a = access(line, "combined")
        return (a[0], "combined") if a else None
    if fmt == "common":
        a = access(line, "common")
        return (a[0], "common") if a else None
    if fmt == "jsonl":
        a = jsonl(line, fields)
        return (a, "jsonl") if a else None
    if fmt == "syslog":
        return syslog(line, year)
    if not line:
        return None
    if line[:1] == b"{":
        a = jsonl(line, fields)
        return (a, "jsonl") if a else None
    if line[:1] == b"<":
        return syslog(line, year)
    if month(line) or looks_iso(line):
        r = syslog(line, year)
        if r:
            return r
    a = access(line, "either")
    return (a[0], "combined" if a[1] else "common") if a else None


def label(t, b):
    start = t - t % b
    y, m, d = civil_from_days(start // 86400)
    s = start % 86400
    return b"%04d-%02d-%02dT%02d:%02dZ" % (y, m, d, s // 3600, s % 3600 // 60)


def san(b):
    return b.replace(b"\t", b" ").replace(b"\n", b" ").replace(b"\r", b" ")


def rate(e, r):
    if r == 0:
        return b"0.0000"
    x = (e * 20000 + r) // (2 * r)
    return b"%d.%04d" % (x // 10000, x % 10000)


def main():
    args = sys.argv[1:]
    fmt, top, bucket, fields, year, files = "auto", 10, 3600, {}, 2026, []
    while args:
        a = args.pop(0)
        if a == "--format":
            fmt = args.pop(0)
        elif a == "--top":
            top = int(args.pop(0))
        elif a == "--bucket-secs":
            bucket = int(args.pop(0))
        elif a == "--json-fields":
            for part in args.pop(0).split(","):
                if part.strip():
                    k, v = part.split("=", 1)
                    fields[k.strip()] = v.strip()
        elif a == "--year":
            year = int(args.pop(0))
        else:
            files.append(a)
    totals = defaultdict(int)
    sec = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0]))
    distinct = defaultdict(set)
    unparsed = set()
    for f in files:
        data = gzip.open(f).read() if f.endswith(".gz") else open(f, "rb").read()
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        for raw in lines:
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if all(c in WS for c in raw):
                continue
            totals[b"lines"] += 1
            line = raw.rstrip(b" \t\r\n")
            p = parse(line, fmt, fields, year)
            if p is None:
                totals[b"unparsed"] += 1
                unparsed.add(san(raw[:1000]))
                continue
            r, kind = p
            totals[b"format_" + kind.encode()] += 1
            if "host" in r:
                totals[b"syslog"] += 1
                lb = label(r["time"], bucket)
                sec["syslog_hosts"][san(r["host"])][0] += 1
                sec["syslog_programs"][lb + b"\t" + san(r["program"])][0] += 1
                sv = SEVERITIES[r["severity"]].encode() if r["severity"] is not None else b"-"
                sec["syslog_severity"][lb + b"\t" + sv][0] += 1
                sec["top_templates"][san(template(r["message"]))][0] += 1
                continue
            st, nb = r["status"], r["bytes"]
            e4, e5 = int(400 <= st < 500), int(500 <= st < 600)
            totals[b"requests"] += 1
            totals[b"bytes"] += nb
            totals[b"4xx"] += e4
            totals[b"5xx"] += e5
            lb = label(r["time"], bucket)
            v = sec["time"][lb]
            v[0] += 1; v[1] += nb; v[2] += e4; v[3] += e5
            sec["status"][b"%d" % st][0] += 1
            sec["methods"][san(r["method"] or b"-")][0] += 1
            if r["path"] is not None:
                v = sec["url"][san(r["path"])]
                v[0] += 1; v[1] += nb
            v = sec["client"][san(r["client"])]
            v[0] += 1; v[1] += e4; v[2] += e5
            if r["agent"]:
                sec["top_agents"][san(r["agent"])][0] += 1
            if r["referrer"]:
                sec["top_referrers"][san(r["referrer"])][0] += 1
            distinct[lb].add(r["client"])
    out = []

    def tops(name, items):
        items = sorted(items, key=lambda kv: (-kv[1][0], kv[0]))[:top]
        for k, figs in items:
            out.append(b"\t".join([name.encode(), k] + [b"%d" % x for x in figs]))

    plain = []
    for k, n in totals.items():
        if n > 0:
            plain.append(b"totals\t" + k + b"\t%d" % n)
    for lb, v in sec["time"].items():
        plain.append(b"time\t%s\t%d\t%d\t%d\t%d\t%s" % (lb, v[0], v[1], v[2], v[3], rate(v[2] + v[3], v[0])))
    for lb, s in distinct.items():
        plain.append(b"distinct_clients\t%s\t%d\t%s" % (lb, len(s), b"exact" if len(s) <= EXACT_MAX else b"hll"))
    for name in ("status", "methods", "syslog_hosts", "syslog_programs", "syslog_severity"):
        for k, v in sec[name].items():
            plain.append(name.encode() + b"\t" + k + b"\t%d" % v[0])
    url, client = sec["url"], sec["client"]
    tops("top_urls", [(k, [v[0], v[1]]) for k, v in url.items()])
    tops("top_urls_by_bytes", [(k, [v[1], v[0]]) for k, v in url.items()])
    tops("top_clients", [(k, [v[0], v[1], v[2]]) for k, v in client.items()])
    tops("top_error_clients", [(k, [v[1] + v[2], v[1], v[2]]) for k, v in client.items() if v[1] + v[2] > 0])
    for name in ("top_agents", "top_referrers", "top_templates"):
        tops(name, [(k, [v[0]]) for k, v in sec[name].items()])
    # Sorted by the line after the section name, as the job's client sorts.
    plain.sort(key=lambda l: (l.split(b"\t", 1)[0], l.split(b"\t", 1)[1]))
    for l in unparsed:
        out.append(b"unparsed_candidates\t" + l)
    sys.stdout.buffer.write(b"".join(l + b"\n" for l in plain + out))


if __name__ == "__main__":
    main()
