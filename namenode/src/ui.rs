//! The namenode's web UI: server-rendered HTML, no JavaScript needed.

use crate::rpc::NamenodeState;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;
use tusk_common::units::human_size;

pub fn router(state: Arc<NamenodeState>) -> Router {
    Router::new().route("/", get(status_page)).with_state(state)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn status_page(State(s): State<Arc<NamenodeState>>) -> Html<String> {
    let (stats, report) = s.read(|f| (f.fs_stats(), f.datanode_report(Instant::now())));
    let mut h = String::new();
    h.push_str("<!doctype html><html><head><meta charset=\"utf-8\"><title>Tusk namenode</title>");
    h.push_str("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>");
    h.push_str("<h1>Tusk namenode</h1><table>");
    let up = s.started.elapsed().as_secs();
    let rows: [(&str, String); 11] = [
        (
            "Safe mode",
            if stats.safe_mode { "ON" } else { "off" }.to_string(),
        ),
        ("Uptime", format!("{up} s")),
        ("Files", stats.total_files.to_string()),
        ("Directories", stats.total_dirs.to_string()),
        ("Blocks", stats.total_blocks.to_string()),
        ("Live datanodes", stats.live_datanodes.to_string()),
        ("Dead datanodes", stats.dead_datanodes.to_string()),
        (
            "Capacity / used / remaining",
            format!(
                "{} / {} / {}",
                human_size(stats.capacity),
                human_size(stats.used),
                human_size(stats.remaining)
            ),
        ),
        (
            "Under-replicated / corrupt / missing blocks",
            format!(
                "{} / {} / {}",
                stats.under_replicated_blocks, stats.corrupt_blocks, stats.missing_blocks
            ),
        ),
        (
            "Pending replications",
            stats.pending_replications.to_string(),
        ),
        (
            "Open files (leases)",
            s.read(|f| f.leases().len()).to_string(),
        ),
    ];
    for (k, v) in rows {
        let _ = write!(h, "<tr><th>{k}</th><td>{}</td></tr>", esc(&v));
    }
    h.push_str("</table><h2>Datanodes</h2><table><tr><th>State</th><th>Address</th><th>Host</th><th>Rack</th><th>Capacity</th><th>Used</th><th>Remaining</th><th>Blocks</th><th>Admin state</th><th>Last contact</th></tr>");
    for d in &report {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} s</td></tr>",
            if d.live { "live" } else { "dead" },
            esc(&d.id.data_addr),
            esc(&d.id.host),
            esc(&d.id.rack),
            human_size(d.capacity),
            human_size(d.used),
            human_size(d.remaining),
            d.num_blocks,
            d.admin_state.as_str(),
            d.last_heartbeat_ms_ago / 1000
        );
    }
    h.push_str("</table></body></html>\n");
    Html(h)
}
