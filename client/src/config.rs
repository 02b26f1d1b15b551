//! How a client finds the namenode and who it is.

use std::path::Path;
use std::time::Duration;

/// Client settings. `Default` is a local cluster as the login user;
/// [`ClientConfig::from_env`] follows DESIGN.md's lookup order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Namenode RPC address, `host:port`.
    pub namenode: String,
    /// The user every call runs as (sent as `x-tusk-user`).
    pub user: String,
    /// Replication of new files; `None` = the cluster default.
    pub replication: Option<u32>,
    /// Block size of new files; `None` = the cluster default.
    pub block_size: Option<u64>,
    /// The host this client runs on, for placement and replica sorting;
    /// `None` = the namenode uses the connection's peer IP.
    pub client_host: Option<String>,
    /// How long to keep retrying a namenode that cannot be reached before
    /// failing with `Unreachable`.
    pub retry_timeout: Duration,
    /// Read replicas on this host straight from the datanode's files, with
    /// descriptors passed over its UNIX domain socket (short-circuit local
    /// reads); any failure falls back to the network read. The default is
    /// on unless `TUSK_SHORTCIRCUIT=0` (benchmarks and tests turn it off).
    pub read_shortcircuit: bool,
}

/// Where the client looks when nothing else names the namenode.
pub const DEFAULT_NAMENODE: &str = "127.0.0.1:9000";

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            namenode: DEFAULT_NAMENODE.into(),
            user: tusk_common::sys::login_user(),
            replication: None,
            block_size: None,
            client_host: None,
            retry_timeout: Duration::from_secs(10),
            read_shortcircuit: shortcircuit_env().unwrap_or(true),
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct FileConfig {
    client: FileClientSection,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct FileClientSection {
    namenode: Option<String>,
    user: Option<String>,
    read_shortcircuit: Option<bool>,
}

/// `TUSK_SHORTCIRCUIT`: `0`/`false`/`off` turn short-circuit reads off,
/// anything else non-empty turns them on; unset or empty says nothing.
fn shortcircuit_env() -> Option<bool> {
    parse_switch(&std::env::var("TUSK_SHORTCIRCUIT").ok()?)
}

fn parse_switch(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" => None,
        "0" | "false" | "off" | "no" => Some(false),
        _ => Some(true),
    }
}

impl ClientConfig {
    /// Namenode from `TUSK_NAMENODE`, else `~/.config/tusk/config.toml`
    /// (`[client] namenode = "..."`), else `127.0.0.1:9000`; user from
    /// `TUSK_USER`, else the file's `[client] user`, else the login name.
    pub fn from_env() -> Self {
        let file = std::env::var_os("HOME")
            .map(|h| Path::new(&h).join(".config/tusk/config.toml"))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| toml::from_str::<FileConfig>(&t).ok())
            .unwrap_or_default();
        Self::resolve(
            std::env::var("TUSK_NAMENODE").ok(),
            std::env::var("TUSK_USER").ok(),
            file.client,
        )
    }

    fn resolve(env_nn: Option<String>, env_user: Option<String>, file: FileClientSection) -> Self {
        let mut c = Self::default();
        if let Some(nn) = env_nn.filter(|s| !s.trim().is_empty()).or(file.namenode) {
            c.namenode = strip_scheme(&nn);
        }
        if let Some(u) = env_user.filter(|s| !s.trim().is_empty()).or(file.user) {
            c.user = u;
        }
        if let Some(on) = shortcircuit_env().or(file.read_shortcircuit) {
            c.read_shortcircuit = on;
        }
        c
    }

    pub fn with_namenode(mut self, addr: impl Into<String>) -> Self {
        self.namenode = strip_scheme(&addr.into());
        self
    }
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }
    pub fn with_replication(mut self, r: u32) -> Self {
        self.replication = Some(r);
        self
    }
    pub fn with_block_size(mut self, b: u64) -> Self {
        self.block_size = Some(b);
        self
    }
    pub fn with_client_host(mut self, h: impl Into<String>) -> Self {
        self.client_host = Some(h.into());
        self
    }
    pub fn with_retry_timeout(mut self, d: Duration) -> Self {
        self.retry_timeout = d;
        self
    }
    pub fn with_read_shortcircuit(mut self, on: bool) -> Self {
        self.read_shortcircuit = on;
        self
    }
}

/// Accepts `hdfs://h:p`, `tusk://h:p`, `http://h:p/` as `h:p`.
fn strip_scheme(s: &str) -> String {
    let s = s.trim();
    let s = s.split_once("://").map(|(_, r)| r).unwrap_or(s);
    s.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_order() {
        let file = FileClientSection {
            namenode: Some("filehost:1".into()),
            user: None,
            read_shortcircuit: None,
        };
        let c = ClientConfig::resolve(Some("envhost:2".into()), Some("alice".into()), file);
        assert_eq!(c.namenode, "envhost:2");
        assert_eq!(c.user, "alice");
        let file = FileClientSection {
            namenode: Some("hdfs://filehost:1/".into()),
            user: None,
            read_shortcircuit: None,
        };
        let c = ClientConfig::resolve(None, None, file);
        assert_eq!(c.namenode, "filehost:1");
        assert_eq!(c.user, tusk_common::sys::login_user());
        let c = ClientConfig::resolve(None, None, FileClientSection::default());
        assert_eq!(c.namenode, DEFAULT_NAMENODE);
    }

    #[test]
    fn parses_file() {
        let f: FileConfig = toml::from_str("[client]\nnamenode = \"h:9\"\n[cluster]\nx=1").unwrap();
        assert_eq!(f.client.namenode.as_deref(), Some("h:9"));
        let f: FileConfig = toml::from_str("[client]\nread_shortcircuit = false").unwrap();
        assert_eq!(f.client.read_shortcircuit, Some(false));
        assert_eq!(parse_switch("0"), Some(false));
        assert_eq!(parse_switch(" OFF "), Some(false));
        assert_eq!(parse_switch("1"), Some(true));
        assert_eq!(parse_switch(""), None);
    }
}
