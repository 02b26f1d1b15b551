//! The resource manager's web UI: server-rendered HTML, no JavaScript needed.

use super::http::{final_name, html_escape, state_name};
use super::Rm;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;

pub(crate) fn router(rm: Arc<Rm>) -> Router {
    Router::new().route("/", get(index)).with_state(rm)
}

async fn index(State(rm): State<Arc<Rm>>) -> impl IntoResponse {
    let (nodes, apps, m) = {
        let st = rm.state.lock();
        (st.nodes(true), st.list(&HashSet::new(), ""), st.metrics())
    };
    let mut s = String::from(
        "<!doctype html><html><head><title>Tusk resource manager</title></head><body>\
         <h1>Tusk resource manager</h1>",
    );
    let total = m.total.unwrap_or_default();
    let used = m.allocated.unwrap_or_default();
    let _ = write!(
        s,
        "<p>{} live nodes, {} lost; memory {} of {} MB used, vcores {} of {}; {} containers; \
         applications: {} submitted, {} pending, {} running, {} finished, {} failed, {} killed</p>",
        m.active_nodes,
        m.lost_nodes,
        used.memory_mb,
        total.memory_mb,
        used.vcores,
        total.vcores,
        m.containers_running,
        m.apps_submitted,
        m.apps_pending,
        m.apps_running,
        m.apps_completed,
        m.apps_failed,
        m.apps_killed
    );
    s.push_str("<h2>Nodes</h2><table border=1><tr><th>node</th><th>host</th><th>rack</th><th>state</th><th>containers</th><th>memory used/total MB</th></tr>");
    for n in &nodes {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td></tr>",
            html_escape(&n.node_id),
            html_escape(&n.host),
            html_escape(&n.rack),
            n.state().as_str_name().trim_start_matches("NODE_STATE_"),
            n.num_containers,
            n.used.unwrap_or_default().memory_mb,
            n.capability.unwrap_or_default().memory_mb
        );
    }
    s.push_str("</table><h2>Applications</h2><table border=1><tr><th>id</th><th>user</th><th>name</th><th>state</th><th>final status</th><th>progress</th><th>diagnostics</th></tr>");
    for a in apps.iter().rev() {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}%</td><td>{}</td></tr>",
            html_escape(&a.app_id),
            html_escape(&a.user),
            html_escape(&a.name),
            state_name(a.state()),
            final_name(a.final_status()),
            a.progress * 100.0,
            html_escape(&a.diagnostics)
        );
    }
    s.push_str("</table></body></html>\n");
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], s)
}
