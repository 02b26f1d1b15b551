//! The namenode's web UI: server-rendered HTML, no JavaScript needed.
//!
//! Pages (all `GET`):
//! - `/`: overview — capacity, nodes, namespace and block counts, safe mode
//!   and its progress, uptime, version.
//! - `/datanodes`: one row per datanode (state, admin state, usage, blocks).
//! - `/explorer?path=/x[&start_after=name]`: a directory listing, 1000
//!   entries a page with a "next page" link; for a file, its blocks and
//!   their replicas, and a WebHDFS download link.
//! - `/startup`: what the namenode did at start and the safe-mode progress.
//!
//! The browser acts as the user in `?user.name=` (Hadoop's default in simple
//! mode: `dr.who`); with `[security] authentication = "token"`, as the
//! user of the token in `?delegation=` or `Authorization: Bearer`, else as
//! the anonymous `dr.who`. The namespace's permissions apply: a private
//! directory answers 403, a missing path 404. Every page copies what it
//! needs out of the namesystem under the read lock and renders after
//! releasing it.

use crate::error::NnError;
use crate::rpc::NamenodeState;
use crate::types::{AdminState, DatanodeReport, FileLocations, FileStatus, InodeKind, Listing};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tusk_common::config::AuthMode;
use tusk_common::units::human_size;
use tusk_common::webhdfs::{encode_path, encode_query_value, Params};

/// Entries per page of the file browser.
pub const PAGE_SIZE: u32 = 1000;
/// Who the browser is when the URL names nobody (Hadoop's
/// `hadoop.http.staticuser.user`).
pub const DEFAULT_USER: &str = "dr.who";

pub fn router(state: Arc<NamenodeState>) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/datanodes", get(datanodes))
        .route("/explorer", get(explorer))
        .route("/startup", get(startup))
        .with_state(state)
}

pub use tusk_common::escape::html as esc;

/// `YYYY-MM-DD HH:MM:SS` (UTC) of milliseconds since the epoch; "-" for 0.
pub fn fmt_time(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `3d 4h 5m 6s`-style duration.
fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {h}h {m}m {s}s")
    } else if h > 0 {
        format!("{h}h {m}m {s}s")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// `drwxr-xr-x`, with `t`/`T` for the sticky bit.
fn mode_string(kind: InodeKind, perm: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(if kind == InodeKind::Dir { 'd' } else { '-' });
    for shift in [6, 3, 0] {
        let b = (perm >> shift) & 7;
        s.push(if b & 4 != 0 { 'r' } else { '-' });
        s.push(if b & 2 != 0 { 'w' } else { '-' });
        let x = b & 1 != 0;
        if shift == 0 && perm & 0o1000 != 0 {
            s.push(if x { 't' } else { 'T' });
        } else {
            s.push(if x { 'x' } else { '-' });
        }
    }
    s
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em}\
table{border-collapse:collapse;margin-bottom:1em}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\
th{background:#f3f3f3}td.n{text-align:right}\
nav a{margin-right:1em}.err{color:#a00}code{background:#f6f6f6}";

/// A whole page: title, navigation bar (keeping the identity query `q`,
/// see [`Who::query`]), body.
fn page(title: &str, q: &str, body: &str) -> String {
    let mut h = String::with_capacity(body.len() + 1024);
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t} — Tusk namenode</title>\
         <style>{STYLE}</style></head><body>\
         <nav><a href=\"/{q1}\">Overview</a><a href=\"/datanodes{q1}\">Datanodes</a>\
         <a href=\"/explorer?path=%2F{q2}\">Browse the file system</a>\
         <a href=\"/startup{q1}\">Startup progress</a></nav><h1>{t}</h1>",
        t = esc(title),
        q1 = esc(&q.replacen('&', "?", 1)),
        q2 = esc(q),
    );
    h.push_str(body);
    h.push_str("</body></html>\n");
    h
}

/// Who the browser acts as, and how the page's links keep it.
struct Who {
    /// The user the request proved (token authentication) or named
    /// (simple), else [`DEFAULT_USER`].
    user: String,
    /// `&user.name=U` or `&delegation=T` when the URL carried it, else "":
    /// appended to every link so the next page acts as the same user.
    query: String,
    /// `[security] authentication = "token"`.
    token_mode: bool,
}

impl Who {
    /// Simple authentication: `?user.name=` (or `doas`), believed.
    /// Token authentication: the user of a valid token in `?delegation=`
    /// or `Authorization: Bearer`; without one (or with a forged or expired
    /// one) the anonymous [`DEFAULT_USER`] — `user.name` is not believed.
    fn of(s: &NamenodeState, p: &Params, headers: &HeaderMap) -> Who {
        if s.auth == AuthMode::Simple {
            let named = p.user();
            return Who {
                user: named.unwrap_or(DEFAULT_USER).to_string(),
                query: named
                    .map(|u| format!("&user.name={}", encode_query_value(u)))
                    .unwrap_or_default(),
                token_mode: false,
            };
        }
        let anonymous = Who {
            user: DEFAULT_USER.to_string(),
            query: String::new(),
            token_mode: true,
        };
        let Some(t) = p.user_token(headers) else {
            return anonymous;
        };
        match s.secret.verify_user_token(t) {
            Ok(tok) => Who {
                user: tok.user,
                // From `?delegation=`: links carry it on. From the header:
                // the client sends it with every request, links need nothing.
                query: p
                    .get_nonempty("delegation")
                    .map(|d| format!("&delegation={}", encode_query_value(d)))
                    .unwrap_or_default(),
                token_mode: true,
            },
            Err(e) => {
                tracing::debug!(error = %e, "web UI: user token refused; anonymous");
                anonymous
            }
        }
    }

    /// How to act as someone else, for the explorer's help line.
    fn hint(&self) -> &'static str {
        if self.token_mode {
            "add <code>?delegation=TOKEN</code> (a user token) to act as its user"
        } else {
            "set <code>?user.name=</code> to act as someone else"
        }
    }

    /// The WebHDFS query that acts as this user (download links).
    fn webhdfs_query(&self) -> String {
        if self.token_mode {
            self.query.clone()
        } else {
            format!("&user.name={}", encode_query_value(&self.user))
        }
    }
}

fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

/// An error page with `status`, one line saying what and why.
fn error_page(status: StatusCode, title: &str, q: &str, msg: &str) -> Response {
    html(
        status,
        page(
            title,
            q,
            &format!("<p class=\"err\" id=\"error\">{}</p>", esc(msg)),
        ),
    )
}

/// The status and title a namesystem error shows as.
fn error_status(e: &NnError) -> (StatusCode, &'static str) {
    match e {
        NnError::NotFound(_) | NnError::NotAFile(_) => (StatusCode::NOT_FOUND, "Not found"),
        NnError::PermissionDenied(_) => (StatusCode::FORBIDDEN, "Permission denied"),
        NnError::InvalidPath(_) | NnError::InvalidArgument(_) | NnError::ParentNotDirectory(_) => {
            (StatusCode::BAD_REQUEST, "Bad request")
        }
        NnError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "Unavailable"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "Error"),
    }
}

/// The query's parameters; a malformed query is a 400 page.
fn params(q: Option<String>) -> Result<Params, Box<Response>> {
    Params::parse(q.as_deref().unwrap_or("")).map_err(|e| {
        Box::new(error_page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "",
            &e.to_string(),
        ))
    })
}

// ------------------------------------------------------------------ overview

/// Safe mode as shown to people: one line, and (reported, needed, total)
/// complete blocks.
struct SafeModeView {
    on: bool,
    text: String,
    reported: u64,
    needed: u64,
    total: u64,
}

fn safe_mode_view(s: &NamenodeState, now: Instant) -> SafeModeView {
    let ((on, manual, reached_at), (total, reported), threshold, extension) = s.read(|f| {
        (
            f.safe_mode_detail(),
            f.block_map().safe_counts(),
            f.config().safemode_threshold,
            f.config().safemode_extension,
        )
    });
    let needed = (threshold * total as f64).ceil() as u64;
    let text = if !on {
        "Safe mode is OFF.".to_string()
    } else if manual {
        "Safe mode is ON: entered by an administrator; it is left only by \
         `dfs admin safemode leave`."
            .to_string()
    } else if let Some(t) = reached_at {
        let left = extension.saturating_sub(now.saturating_duration_since(t));
        format!(
            "Safe mode is ON: {reported} of {total} blocks reported (threshold {:.1}%, {needed} needed) \
             reached; leaving safe mode in {}.",
            threshold * 100.0,
            fmt_duration(left)
        )
    } else {
        format!(
            "Safe mode is ON: {reported} of {total} blocks reported; {needed} needed \
             (threshold {:.1}%) before it turns off automatically.",
            threshold * 100.0
        )
    };
    SafeModeView {
        on,
        text,
        reported,
        needed,
        total,
    }
}

async fn overview(
    State(s): State<Arc<NamenodeState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = match params(q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let who = Who::of(&s, &p, &headers);
    let now = Instant::now();
    let (stats, report, leases) =
        s.read(|f| (f.fs_stats(), f.datanode_report(now), f.leases().len()));
    let safe = safe_mode_view(&s, now);
    let decommissioning = report
        .iter()
        .filter(|d| d.live && d.admin_state == AdminState::Decommissioning)
        .count();
    let decommissioned = report
        .iter()
        .filter(|d| d.admin_state == AdminState::Decommissioned)
        .count();
    let pct = |n: u64| {
        if stats.capacity == 0 {
            "0.0".to_string()
        } else {
            format!("{:.1}", n as f64 * 100.0 / stats.capacity as f64)
        }
    };
    let mut b = String::new();
    let _ = write!(
        b,
        "<p class=\"{}\" id=\"safemode\">{}</p>",
        if safe.on { "err" } else { "" },
        esc(&safe.text)
    );
    b.push_str("<h2>Summary</h2><table>");
    let rows: Vec<(&str, &str, String)> = vec![
        ("version", "Version", env!("CARGO_PKG_VERSION").to_string()),
        ("uptime", "Uptime", fmt_duration(s.started.elapsed())),
        (
            "capacity",
            "Configured capacity",
            format!("{} ({} B)", human_size(stats.capacity), stats.capacity),
        ),
        (
            "used",
            "DFS used",
            format!("{} ({}%)", human_size(stats.used), pct(stats.used)),
        ),
        (
            "remaining",
            "DFS remaining",
            format!(
                "{} ({}%)",
                human_size(stats.remaining),
                pct(stats.remaining)
            ),
        ),
        ("live-nodes", "Live nodes", stats.live_datanodes.to_string()),
        ("dead-nodes", "Dead nodes", stats.dead_datanodes.to_string()),
        (
            "decommissioning-nodes",
            "Decommissioning nodes",
            decommissioning.to_string(),
        ),
        (
            "decommissioned-nodes",
            "Decommissioned nodes",
            decommissioned.to_string(),
        ),
        ("files", "Files", stats.total_files.to_string()),
        ("dirs", "Directories", stats.total_dirs.to_string()),
        ("blocks", "Blocks", stats.total_blocks.to_string()),
        (
            "under-replicated",
            "Under-replicated blocks",
            stats.under_replicated_blocks.to_string(),
        ),
        (
            "corrupt",
            "Blocks with corrupt replicas",
            stats.corrupt_blocks.to_string(),
        ),
        (
            "missing",
            "Missing blocks",
            stats.missing_blocks.to_string(),
        ),
        (
            "pending-replications",
            "Pending replications",
            stats.pending_replications.to_string(),
        ),
        ("open-files", "Open files (leases)", leases.to_string()),
        (
            "safe-blocks",
            "Blocks reported / needed to leave safe mode",
            format!("{} / {} (of {})", safe.reported, safe.needed, safe.total),
        ),
    ];
    for (id, k, v) in rows {
        let _ = write!(b, "<tr><th>{k}</th><td id=\"{id}\">{}</td></tr>", esc(&v));
    }
    b.push_str("</table>");
    let _ = write!(
        b,
        "<p><a href=\"/datanodes{}\">{} datanodes</a> · \
         <a href=\"/explorer?path=%2F{}\">Browse the file system</a> · \
         <a href=\"/startup{}\">Startup progress</a></p>",
        esc(&who.query.replacen('&', "?", 1)),
        report.len(),
        esc(&who.query),
        esc(&who.query.replacen('&', "?", 1)),
    );
    html(StatusCode::OK, page("Overview", &who.query, &b))
}

// ----------------------------------------------------------------- datanodes

fn datanode_state(d: &DatanodeReport) -> String {
    let live = if d.live { "live" } else { "dead" };
    match d.admin_state {
        AdminState::InService => live.to_string(),
        AdminState::Decommissioning => format!(
            "{live}, {} ({} blocks left to replicate)",
            d.admin_state.as_str(),
            d.blocks_to_replicate
        ),
        AdminState::Decommissioned => format!("{live}, {}", d.admin_state.as_str()),
    }
}

async fn datanodes(
    State(s): State<Arc<NamenodeState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = match params(q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let who = Who::of(&s, &p, &headers);
    let report = s.read(|f| f.datanode_report(Instant::now()));
    let live = report.iter().filter(|d| d.live).count();
    let mut b = format!(
        "<p><span id=\"dn-live\">{live}</span> live, <span id=\"dn-dead\">{}</span> dead. \
         Failed volumes are not reported to the namenode: see each datanode's /metrics.</p>",
        report.len() - live
    );
    b.push_str(
        "<table id=\"datanodes\"><tr><th>Address</th><th>Host</th><th>Rack</th><th>State</th>\
         <th>Admin state</th><th>Last contact</th><th>Capacity</th><th>Used</th>\
         <th>Remaining</th><th>Blocks</th><th>Xceivers</th><th>HTTP</th></tr>",
    );
    for d in &report {
        let _ = write!(
            b,
            "<tr class=\"dn\"><td>{}</td><td>{}</td><td>{}</td><td class=\"state\">{}</td><td>{}</td>\
             <td>{} ago</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n blocks\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&d.id.data_addr),
            esc(&d.id.host),
            esc(&d.id.rack),
            esc(&datanode_state(d)),
            esc(d.admin_state.as_str()),
            fmt_duration(Duration::from_millis(d.last_heartbeat_ms_ago)),
            human_size(d.capacity),
            human_size(d.used),
            human_size(d.remaining),
            d.num_blocks,
            d.xceivers,
            if d.id.http_addr.is_empty() {
                "-".to_string()
            } else {
                format!(
                    "<a href=\"{s}://{a}/metrics\">{a}</a>",
                    s = tusk_common::net::http_scheme(),
                    a = esc(&d.id.http_addr)
                )
            }
        );
    }
    b.push_str("</table>");
    html(StatusCode::OK, page("Datanodes", &who.query, &b))
}

// ------------------------------------------------------------------ explorer

/// What the explorer found at a path (copied out of the lock).
enum Found {
    Dir(Listing),
    File(FileStatus, FileLocations),
}

/// `/explorer?path=P`: P as the user sees it (see the module docs).
async fn explorer(
    State(s): State<Arc<NamenodeState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = match params(q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let web = Who::of(&s, &p, &headers);
    let user = web.user.clone();
    // `/a/b/` is `/a/b` (as a shell would take it); anything else odd is
    // left to the namesystem's path check (400).
    let path = match p.get_nonempty("path").unwrap_or("/").trim_end_matches('/') {
        "" => "/".to_string(),
        p => p.to_string(),
    };
    let start_after = p.get("start_after").unwrap_or("").to_string();
    // Groups from the same cached lookup as RPC callers.
    let who = s.caller_for_user(&user);
    let found = s.read(|f| -> Result<Found, NnError> {
        let st = f
            .get_file_info(&who, &path)?
            .ok_or_else(|| NnError::NotFound(format!("File does not exist: {path}")))?;
        match st.kind {
            InodeKind::Dir => Ok(Found::Dir(f.get_listing(
                &who,
                &path,
                &start_after,
                PAGE_SIZE,
            )?)),
            InodeKind::File => {
                let locs = f.get_block_locations(&who, &path, 0, 0, "")?;
                Ok(Found::File(st, locs))
            }
        }
    });
    let uq = web.query.clone();
    match found {
        Err(e) => {
            let (status, title) = error_status(&e);
            let msg = match &e {
                NnError::PermissionDenied(_) => format!("{path}: {e} (browsing as {user})"),
                _ => format!("{path}: {e}"),
            };
            error_page(status, title, &uq, &msg)
        }
        Ok(Found::Dir(l)) => {
            let b = render_listing(&path, &l, &start_after, &uq, &web);
            html(StatusCode::OK, page(&format!("Directory {path}"), &uq, &b))
        }
        Ok(Found::File(st, locs)) => {
            let b = render_file(&path, &st, &locs, &uq, &web);
            html(StatusCode::OK, page(&format!("File {path}"), &uq, &b))
        }
    }
}

/// `/explorer?path=…` for `path` (the user parameter appended).
fn explorer_url(path: &str, uq: &str) -> String {
    format!("/explorer?path={}{uq}", encode_query_value(path))
}

fn child_path(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Links to every ancestor: `/ a / b`.
fn breadcrumbs(path: &str, uq: &str) -> String {
    let mut b = format!(
        "<p id=\"breadcrumbs\"><a href=\"{}\">/</a>",
        esc(&explorer_url("/", uq))
    );
    let mut cur = String::new();
    for c in path.split('/').filter(|c| !c.is_empty()) {
        cur.push('/');
        cur.push_str(c);
        let _ = write!(
            b,
            " <a href=\"{}\">{}</a> /",
            esc(&explorer_url(&cur, uq)),
            esc(c)
        );
    }
    b.push_str("</p>");
    b
}

fn render_listing(path: &str, l: &Listing, start_after: &str, uq: &str, who: &Who) -> String {
    let mut b = breadcrumbs(path, uq);
    let _ = write!(
        b,
        "<p>Browsing as <b>{}</b> ({}). ",
        esc(&who.user),
        who.hint()
    );
    if start_after.is_empty() {
        let _ = write!(b, "<span id=\"entries\">{}</span> entries", l.entries.len());
    } else {
        let _ = write!(
            b,
            "<span id=\"entries\">{}</span> entries after <code>{}</code>",
            l.entries.len(),
            esc(start_after)
        );
    }
    if l.remaining > 0 {
        b.push_str(" on this page; more follow");
    }
    b.push_str(".</p>");
    b.push_str(
        "<table id=\"listing\"><tr><th>Permission</th><th>Owner</th><th>Group</th><th>Size</th>\
         <th>Replication</th><th>Block size</th><th>Last modified</th><th>Name</th></tr>",
    );
    if path != "/" {
        let parent = match path.trim_end_matches('/').rsplit_once('/') {
            Some(("", _)) | None => "/".to_string(),
            Some((p, _)) => p.to_string(),
        };
        let _ = write!(
            b,
            "<tr><td></td><td></td><td></td><td></td><td></td><td></td><td></td>\
             <td><a href=\"{}\">..</a></td></tr>",
            esc(&explorer_url(&parent, uq))
        );
    }
    for e in &l.entries {
        let dir = e.kind == InodeKind::Dir;
        let _ = write!(
            b,
            "<tr class=\"entry\"><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td>\
             <td class=\"name\"><a href=\"{}\">{}{}</a></td></tr>",
            mode_string(e.kind, e.permission),
            esc(&e.owner),
            esc(&e.group),
            if dir { "-".to_string() } else { human_size(e.length) },
            if dir { "-".to_string() } else { e.replication.to_string() },
            if dir { "-".to_string() } else { human_size(e.block_size) },
            fmt_time(e.mtime_ms),
            esc(&explorer_url(&child_path(path, &e.name), uq)),
            esc(&e.name),
            if dir { "/" } else { "" }
        );
    }
    b.push_str("</table>");
    if let (true, Some(last)) = (l.remaining > 0, l.entries.last()) {
        let _ = write!(
            b,
            "<p><a id=\"next\" href=\"{}&amp;start_after={}\">Next page</a></p>",
            esc(&explorer_url(path, uq)),
            esc(&encode_query_value(&last.name))
        );
    }
    b
}

fn render_file(path: &str, st: &FileStatus, locs: &FileLocations, uq: &str, who: &Who) -> String {
    let mut b = breadcrumbs(path, uq);
    let user = &who.user;
    let download = format!(
        "/webhdfs/v1{}?op=OPEN{}",
        encode_path(path),
        who.webhdfs_query()
    );
    b.push_str("<table id=\"file\">");
    let rows: [(&str, String); 10] = [
        ("Path", esc(path)),
        (
            "Size",
            format!("{} ({} B)", human_size(st.length), st.length),
        ),
        (
            "Permission",
            format!("<code>{}</code>", mode_string(st.kind, st.permission)),
        ),
        ("Owner", esc(&st.owner)),
        ("Group", esc(&st.group)),
        ("Replication", st.replication.to_string()),
        ("Block size", human_size(st.block_size)),
        ("Modified", fmt_time(st.mtime_ms)),
        ("Accessed", fmt_time(st.atime_ms)),
        (
            "Open for writing",
            if locs.under_construction { "yes" } else { "no" }.to_string(),
        ),
    ];
    for (k, v) in rows {
        let _ = write!(b, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    b.push_str("</table>");
    let _ = write!(
        b,
        "<p><a id=\"download\" href=\"{}\">Download</a> (WebHDFS OPEN, as {})</p>",
        esc(&download),
        esc(user)
    );
    let _ = write!(
        b,
        "<h2>Blocks (<span id=\"block-count\">{}</span>)</h2>\
         <table id=\"blocks\"><tr><th>#</th><th>Block id</th><th>Generation stamp</th>\
         <th>Offset</th><th>Length</th><th>Replicas</th><th>Locations</th></tr>",
        locs.blocks.len()
    );
    for (i, lb) in locs.blocks.iter().enumerate() {
        let mut where_ = String::new();
        for (k, d) in lb.locations.iter().enumerate() {
            if k > 0 {
                where_.push_str("<br>");
            }
            let _ = write!(
                where_,
                "{} ({}, {})",
                esc(&d.data_addr),
                esc(&d.host),
                esc(&d.rack)
            );
        }
        if lb.locations.is_empty() {
            where_.push_str("<span class=\"err\">no live replica</span>");
        }
        if lb.corrupt {
            where_.push_str(" <span class=\"err\">(every replica is corrupt)</span>");
        }
        let _ = write!(
            b,
            "<tr class=\"block\"><td class=\"n\">{i}</td><td>blk_{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n replicas\">{}</td><td>{where_}</td></tr>",
            lb.block.id,
            lb.block.genstamp,
            lb.offset,
            lb.block.num_bytes,
            lb.locations.len()
        );
    }
    b.push_str("</table>");
    b
}

// ------------------------------------------------------------------- startup

async fn startup(
    State(s): State<Arc<NamenodeState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    let p = match params(q) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let who = Who::of(&s, &p, &headers);
    let now = Instant::now();
    let stats = s.read(|f| f.fs_stats());
    let safe = safe_mode_view(&s, now);
    let up = s.started.elapsed();
    let mut b = String::from(
        "<table id=\"phases\"><tr><th>Phase</th><th>Status</th><th>Counts</th><th>Elapsed</th></tr>",
    );
    // The namespace is opened (the edit log replayed into sled, the block
    // map and leases rebuilt from it) before the HTTP server binds, so this
    // page only ever sees that phase complete.
    let _ = write!(
        b,
        "<tr><td>Loading the namespace (edit log replay, block map and leases rebuilt)</td>\
         <td>Complete</td><td>{} files, {} directories, {} blocks</td>\
         <td>done before the HTTP server started</td></tr>",
        stats.total_files, stats.total_dirs, stats.total_blocks
    );
    let pct = if safe.total == 0 {
        100.0
    } else {
        safe.reported as f64 * 100.0 / safe.total as f64
    };
    let _ = write!(
        b,
        "<tr><td>Safe mode: waiting for block reports</td><td id=\"safemode-phase\">{}</td>\
         <td><span id=\"safe-reported\">{}</span> of {} blocks reported ({pct:.1}%), {} needed</td>\
         <td>{}</td></tr></table>",
        if safe.on { "Running" } else { "Complete" },
        safe.reported,
        safe.total,
        safe.needed,
        fmt_duration(up)
    );
    let _ = write!(
        b,
        "<p id=\"safemode\">{}</p><p>Namenode up for {}.</p>",
        esc(&safe.text),
        fmt_duration(up)
    );
    html(StatusCode::OK, page("Startup progress", &who.query, &b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn formats_times_in_utc() {
        assert_eq!(fmt_time(0), "-");
        assert_eq!(fmt_time(86_400_000), "1970-01-02 00:00:00");
        // 2024-02-29 12:34:56 UTC
        assert_eq!(fmt_time(1_709_210_096_000), "2024-02-29 12:34:56");
    }

    #[test]
    fn modes_render_like_ls() {
        assert_eq!(mode_string(InodeKind::Dir, 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(InodeKind::File, 0o640), "-rw-r-----");
        assert_eq!(mode_string(InodeKind::Dir, 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(InodeKind::Dir, 0o1770), "drwxrwx--T");
    }

    #[test]
    fn child_paths_and_durations() {
        assert_eq!(child_path("/", "a"), "/a");
        assert_eq!(child_path("/a", "b"), "/a/b");
        assert_eq!(fmt_duration(Duration::from_secs(3725)), "1h 2m 5s");
        assert_eq!(fmt_duration(Duration::from_secs(5)), "5s");
    }
}
