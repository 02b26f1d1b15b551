//! `tusk-gen-logs`: realistic web server access logs (or syslog) on stdout,
//! deterministic for a seed; what `scripts/gen-logs` runs.
//!
//! Access logs (Apache/Nginx combined format) over `--days` days from
//! `START_EPOCH`, in time order, with a diurnal traffic curve (quiet at
//! night, a peak in the afternoon) and a half-hour incident of 5xx errors;
//! URLs and clients drawn from Zipf distributions (a few very hot, a long
//! tail), 15% with query strings; IPv4 and IPv6 clients; crawlers (about
//! 10% of requests, from a small pool of addresses); a realistic status mix;
//! `-` for missing fields; TLS handshakes sent to the HTTP port (a garbage
//! request line, status 400) and truncated lines now and then. Syslog:
//! RFC 3164 lines with a PRI (and one in ten RFC 5424) from sshd, cron,
//! kernel, nginx, systemd, postfix.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "tusk-gen-logs",
    about = "Generate realistic access logs or syslog, deterministic for a seed"
)]
struct Args {
    /// Lines to write (or use --size).
    lines: Option<u64>,
    /// Random seed.
    #[arg(default_value_t = 42)]
    seed: u64,
    /// Start of the first day, seconds since the epoch (UTC).
    #[arg(default_value_t = 1_793_491_200)]
    start: i64,
    /// The seed, when no LINES are given (with --size).
    #[arg(long = "seed", value_name = "SEED")]
    seed_opt: Option<u64>,
    /// Write about this many bytes instead of a line count (e.g. 1GiB, 200MiB).
    #[arg(long)]
    size: Option<String>,
    /// Days the lines span.
    #[arg(long, default_value_t = 1)]
    days: u32,
    /// combined or syslog.
    #[arg(long, default_value = "combined")]
    format: String,
    /// Zone offset written in access-log dates, e.g. +0000, -0500.
    #[arg(long, default_value = "+0000", allow_hyphen_values = true)]
    tz: String,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Zipf(s) over `n` ranks as a cumulative table.
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut c = Vec::with_capacity(n);
        let mut sum = 0.0;
        for k in 1..=n {
            sum += 1.0 / (k as f64).powf(s);
            c.push(sum);
        }
        c.iter_mut().for_each(|x| *x /= sum);
        Zipf(c)
    }
    fn sample(&self, r: &mut Rng) -> usize {
        let u = r.f();
        self.0.partition_point(|&x| x < u).min(self.0.len() - 1)
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let i = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..i].parse().ok()?;
    let m = match s[i..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    Some(n * m)
}

fn civil(z: i64) -> (i64, usize, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + (m <= 2) as i64, m as usize, d)
}

const MON: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Minute-by-minute traffic weights over the span, as a cumulative table.
fn diurnal(days: u32) -> Vec<f64> {
    let mut c = Vec::with_capacity(days as usize * 1440);
    let mut sum = 0.0;
    for m in 0..days as usize * 1440 {
        let h = (m % 1440) as f64 / 60.0;
        // Low at 04:00, high at 16:00; weekends (days 5, 6) quieter.
        let w = 1.0 + 0.8 * (std::f64::consts::PI * (h - 10.0) / 12.0).sin();
        let w = if (m / 1440) % 7 >= 5 { w * 0.7 } else { w };
        sum += w.max(0.05);
        c.push(sum);
    }
    c.iter_mut().for_each(|x| *x /= sum);
    c
}

struct Gen {
    r: Rng,
    urls: Vec<String>,
    url_z: Zipf,
    clients: Vec<String>,
    client_z: Zipf,
    bots: Vec<String>,
    start: i64,
    tz: String,
    tz_secs: i64,
}

const AGENTS: [&str; 8] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
    "curl/8.4.0",
    "python-requests/2.31.0",
];
const BOT_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
];
const REFERRERS: [&str; 6] = [
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://news.ycombinator.com/",
    "https://example.com/products",
    "https://example.com/",
    "https://t.co/x1y2z3",
];

impl Gen {
    fn new(seed: u64, start: i64, tz: &str) -> Result<Gen, String> {
        let tz_ok = tz.len() == 5
            && matches!(tz.as_bytes()[0], b'+' | b'-')
            && tz[1..].bytes().all(|b| b.is_ascii_digit());
        if !tz_ok {
            return Err(format!("--tz {tz}: expected +HHMM or -HHMM"));
        }
        let off =
            tz[1..3].parse::<i64>().unwrap_or(0) * 3600 + tz[3..5].parse::<i64>().unwrap_or(0) * 60;
        let tz_secs = if tz.starts_with('-') { -off } else { off };
        let mut r = Rng(seed ^ 0x5eed);
        let mut urls: Vec<String> = [
            "/",
            "/index.html",
            "/products",
            "/cart",
            "/checkout",
            "/api/v1/items",
            "/api/v1/search",
            "/login",
            "/static/app.js",
            "/static/style.css",
            "/favicon.ico",
            "/robots.txt",
            "/api/v1/cart",
            "/about",
            "/blog",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for i in 0..3000 {
            urls.push(match i % 5 {
                0 => format!("/products/{}", r.below(100_000)),
                1 => format!("/blog/{}-post-{}", 2020 + r.below(6), r.below(9000)),
                2 => format!("/static/img/{:x}.jpg", r.next() & 0xffff_ffff),
                3 => format!("/api/v1/items/{}", r.below(50_000)),
                _ => format!("/category/{}/page/{}", r.below(40), 1 + r.below(20)),
            });
        }
        let mut clients = Vec::new();
        for i in 0..60_000u64 {
            clients.push(if i % 12 == 5 {
                format!(
                    "2001:db8:{:x}:{:x}::{:x}",
                    r.below(65536),
                    r.below(65536),
                    1 + r.below(65535)
                )
            } else {
                format!(
                    "{}.{}.{}.{}",
                    11 + r.below(200),
                    r.below(256),
                    r.below(256),
                    1 + r.below(254)
                )
            });
        }
        let bots = (0..40)
            .map(|_| format!("66.249.{}.{}", 64 + r.below(32), 1 + r.below(254)))
            .collect();
        Ok(Gen {
            url_z: Zipf::new(urls.len(), 1.05),
            urls,
            client_z: Zipf::new(clients.len(), 0.9),
            clients,
            bots,
            r: Rng(seed),
            start,
            tz: tz.to_string(),
            tz_secs,
        })
    }

    fn clf_date(&self, t: i64, out: &mut Vec<u8>) {
        let l = t + self.tz_secs;
        let (y, m, d) = civil(l.div_euclid(86400));
        let s = l.rem_euclid(86400);
        let _ = write!(
            out,
            "{d:02}/{}/{y:04}:{:02}:{:02}:{:02} {}",
            MON[m - 1],
            s / 3600,
            s % 3600 / 60,
            s % 60,
            self.tz
        );
    }

    fn access(&mut self, t: i64, out: &mut Vec<u8>) {
        let r = &mut self.r;
        let u = r.f();
        let secs_of_day = (t - self.start).rem_euclid(86400);
        let incident = (14 * 3600..14 * 3600 + 1800).contains(&secs_of_day);
        if u < 0.0005 {
            // A TLS handshake on the HTTP port.
            let c = &self.clients[r.below(self.clients.len() as u64) as usize];
            let _ = write!(out, "{c} - - [");
            self.clf_date(t, out);
            let _ = writeln!(
                out,
                "] \"\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03\\x03\" 400 {} \"-\" \"-\"",
                150 + self.r.below(50)
            );
            return;
        }
        if u < 0.0007 {
            // A line cut short by a full disk or a crash.
            let c = self.clients[self.client_z.sample(r)].clone();
            let _ = write!(out, "{c} - - [");
            self.clf_date(t, out);
            out.extend_from_slice(b"] \"GET /products/12");
            out.push(b'\n');
            return;
        }
        let bot = r.f() < 0.10;
        let (client, agent) = if bot {
            let b = r.below(BOT_AGENTS.len() as u64) as usize;
            (
                self.bots[(b * 10 + r.below(10) as usize) % self.bots.len()].clone(),
                BOT_AGENTS[b],
            )
        } else {
            let a = self.client_z.sample(r);
            // Each client mostly keeps its browser.
            let agent = if r.f() < 0.9 {
                AGENTS[a % AGENTS.len()]
            } else {
                AGENTS[r.below(AGENTS.len() as u64) as usize]
            };
            (self.clients[a].clone(), agent)
        };
        let mut path = self.urls[self.url_z.sample(r)].clone();
        if r.f() < 0.15 {
            path.push_str(&format!("?q={}&page={}", r.below(1000), 1 + r.below(9)));
        }
        let method = match r.below(100) {
            0..=84 => "GET",
            85..=93 => "POST",
            94..=95 => "PUT",
            96 => "DELETE",
            97..=98 => "HEAD",
            _ => "OPTIONS",
        };
        let status = if incident && r.f() < 0.25 {
            [500, 502, 503, 504][r.below(4) as usize]
        } else {
            match r.below(1000) {
                0..=779 => 200,
                780..=839 => 304,
                840..=859 => 301,
                860..=879 => 302,
                880..=889 => 201,
                890..=949 => 404,
                950..=959 => 403,
                960..=969 => 400,
                970..=974 => 401,
                975..=979 => 429,
                980..=989 => 500,
                990..=994 => 502,
                _ => 503,
            }
        };
        let bytes = if status == 304 || status == 301 || status == 302 || method == "HEAD" {
            "-".to_string()
        } else if path.starts_with("/static/img") {
            (20_000 + r.below(400_000)).to_string()
        } else {
            let x = r.f();
            ((200.0 + x * x * 60_000.0) as u64).to_string()
        };
        let user = if r.f() < 0.03 { "alice" } else { "-" };
        let referrer = if bot || r.f() < 0.45 {
            "-"
        } else {
            REFERRERS[r.below(REFERRERS.len() as u64) as usize]
        };
        let _ = write!(out, "{client} - {user} [");
        self.clf_date(t, out);
        let _ = writeln!(
            out,
            "] \"{method} {path} HTTP/1.1\" {status} {bytes} \"{referrer}\" \"{agent}\""
        );
    }

    fn syslog(&mut self, t: i64, out: &mut Vec<u8>) {
        let r = &mut self.r;
        let host = format!("web{:02}", 1 + r.below(12));
        let pid = 300 + r.below(30_000);
        let ip = self.clients[self.client_z.sample(r)].clone();
        let (prog, fac, sev, msg) = match r.below(20) {
            0..=5 => (
                "sshd",
                4,
                6,
                format!(
                    "Accepted publickey for deploy from {ip} port {} ssh2",
                    1024 + r.below(60_000)
                ),
            ),
            6..=9 => (
                "sshd",
                4,
                5,
                format!(
                    "Failed password for invalid user admin{} from {ip} port {} ssh2",
                    r.below(100),
                    1024 + r.below(60_000)
                ),
            ),
            10..=12 => ("CRON", 9, 6, format!("(root) CMD (/usr/local/bin/backup.sh --id {})", r.below(1000))),
            13..=14 => (
                "kernel",
                0,
                4,
                format!("[{}.{:06}] TCP: request_sock_TCP: Possible SYN flooding on port {}. Sending cookies.", r.below(900_000), r.below(1_000_000), [80, 443][r.below(2) as usize]),
            ),
            15..=16 => (
                "nginx",
                3,
                3,
                format!("upstream timed out (110: Connection timed out) while reading response header from upstream, client: {ip}"),
            ),
            17 => ("systemd", 3, 6, format!("Started Session {} of user deploy.", r.below(100_000))),
            18 => ("postfix/smtpd", 2, 6, format!("connect from unknown[{ip}]")),
            _ => ("systemd", 3, 2, "Failed to start Daily apt upgrade and clean activities.".to_string()),
        };
        let pri = fac * 8 + sev;
        if r.below(10) == 0 {
            let (y, m, d) = civil(t.div_euclid(86400));
            let s = t.rem_euclid(86400);
            let _ = writeln!(
                out,
                "<{pri}>1 {y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z {host}.example.com {prog} {pid} - - {msg}",
                s / 3600,
                s % 3600 / 60,
                s % 60,
                r.below(1000)
            );
        } else {
            let (_, m, d) = civil(t.div_euclid(86400));
            let s = t.rem_euclid(86400);
            let _ = writeln!(
                out,
                "<{pri}>{} {d:>2} {:02}:{:02}:{:02} {host} {prog}[{pid}]: {msg}",
                MON[m - 1],
                s / 3600,
                s % 3600 / 60,
                s % 60
            );
        }
    }
}

fn run(a: Args) -> Result<(), String> {
    let syslog = match a.format.as_str() {
        "combined" => false,
        "syslog" => true,
        f => return Err(format!("--format {f}: expected combined or syslog")),
    };
    if a.days == 0 {
        return Err("--days must be at least 1".into());
    }
    let size = match &a.size {
        Some(s) => {
            Some(parse_size(s).ok_or_else(|| format!("--size {s}: expected e.g. 512MiB or 1GiB"))?)
        }
        None => None,
    };
    let seed = a.seed_opt.unwrap_or(a.seed);
    let mut g = Gen::new(seed, a.start, &a.tz)?;
    let lines = match (a.lines, size) {
        (Some(n), _) => n,
        (None, Some(bytes)) => {
            // The average line length, from a sample with another seed.
            let mut probe = Gen::new(seed ^ 1, a.start, &a.tz)?;
            let mut buf = Vec::new();
            for i in 0..4000 {
                if syslog {
                    probe.syslog(a.start + i, &mut buf);
                } else {
                    probe.access(a.start + i, &mut buf);
                }
            }
            (bytes as f64 / (buf.len() as f64 / 4000.0)).ceil() as u64
        }
        (None, None) => return Err("give LINES or --size (see --help)".into()),
    };
    let cdf = diurnal(a.days);
    let minutes = cdf.len();
    let stdout = io::stdout();
    let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut buf = Vec::with_capacity(1 << 16);
    let mut written = 0u64;
    let mut minute = 0usize;
    for i in 0..lines {
        let u = (i as f64 + 0.5) / lines as f64;
        while minute + 1 < minutes && cdf[minute] < u {
            minute += 1;
        }
        let lo = if minute == 0 { 0.0 } else { cdf[minute - 1] };
        let frac = ((u - lo) / (cdf[minute] - lo)).clamp(0.0, 0.999);
        let t = a.start + minute as i64 * 60 + (frac * 60.0) as i64;
        if syslog {
            g.syslog(t, &mut buf);
        } else {
            g.access(t, &mut buf);
        }
        if buf.len() >= 1 << 16 {
            w.write_all(&buf).map_err(|e| format!("stdout: {e}"))?;
            written += buf.len() as u64;
            buf.clear();
            if size.is_some_and(|s| written >= s) {
                break;
            }
        }
    }
    let keep = match size {
        // Whole lines only, up to the size.
        Some(s) if written + buf.len() as u64 > s => {
            let room = (s - written.min(s)) as usize;
            buf[..room]
                .iter()
                .rposition(|&b| b == b'\n')
                .map(|p| p + 1)
                .unwrap_or(0)
        }
        _ => buf.len(),
    };
    w.write_all(&buf[..keep])
        .map_err(|e| format!("stdout: {e}"))?;
    w.flush().map_err(|e| format!("stdout: {e}"))?;
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-logs: {e}");
            ExitCode::FAILURE
        }
    }
}
