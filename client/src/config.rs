//! How a client finds the namenode and who it is.

use std::path::Path;
use std::time::Duration;

/// Client settings. `Default` is a local cluster as the login user;
/// [`ClientConfig::from_env`] follows DESIGN.md's lookup order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Namenode RPC address, `host:port`.
    pub namenode: String,
    /// The user every call runs as (sent as `x-tusk-user`; with a user
    /// token, [`DfsClient::connect`](crate::DfsClient::connect) takes the
    /// token's user instead, the one the namenode believes).
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
    /// The user token sent on every namenode call (`authorization: Bearer`)
    /// when the cluster has `[security] authentication = "token"`:
    /// [`ClientConfig::from_env`] takes it from `TUSK_TOKEN`,
    /// `TUSK_TOKEN_FILE` or `~/.config/tusk/token`.
    pub token: Option<String>,
    /// Why the token could not be read (a bad `TUSK_TOKEN_FILE`): then
    /// [`DfsClient::connect`](crate::DfsClient::connect) fails with it,
    /// rather than every call failing later with "no token".
    pub token_error: Option<String>,
    /// Node authentication with the cluster secret instead of a user token:
    /// for daemons acting for users (node managers localizing files), which
    /// the namenode trusts to name the user in `x-tusk-user`.
    pub node_auth: Option<NodeAuth>,
    /// The cluster CA when the cluster runs TLS: `TUSK_TLS_CA`, else `[tls]
    /// ca_file` (with `enabled = true`) of `~/.config/tusk/config.toml`.
    /// [`ClientConfig::install_tls`] turns TLS on for the process with it.
    pub tls_ca: Option<std::path::PathBuf>,
}

/// The cluster secret a daemon's client signs its namenode calls with
/// (see [`ClientConfig::node_auth`]). Equal when it is the same secret
/// object; `Debug` never shows the key.
#[derive(Debug, Clone)]
pub struct NodeAuth(pub std::sync::Arc<tusk_common::security::ClusterSecret>);

impl PartialEq for NodeAuth {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for NodeAuth {}

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
            token: None,
            token_error: None,
            node_auth: None,
            tls_ca: None,
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct FileConfig {
    client: FileClientSection,
    tls: tusk_common::config::TlsConfig,
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
    /// `TUSK_USER`, else the file's `[client] user`, else the login name;
    /// the user token from `TUSK_TOKEN`, else the file `TUSK_TOKEN_FILE`,
    /// else `~/.config/tusk/token` (a token file that cannot be read is
    /// kept as [`ClientConfig::token_error`]).
    pub fn from_env() -> Self {
        let file = std::env::var_os("HOME")
            .map(|h| Path::new(&h).join(".config/tusk/config.toml"))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| toml::from_str::<FileConfig>(&t).ok())
            .unwrap_or_default();
        let mut c = Self::resolve(
            std::env::var("TUSK_NAMENODE").ok(),
            std::env::var("TUSK_USER").ok(),
            file.client,
        );
        c.tls_ca = std::env::var_os(tusk_common::net::env::CA)
            .filter(|v| !v.is_empty())
            .map(Into::into)
            .or(file.tls.ca_file.filter(|_| file.tls.enabled));
        match tusk_common::security::token_from_env() {
            Ok(t) => c.token = t,
            Err(e) => c.token_error = Some(e),
        }
        c
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
    /// Turns TLS on for this process (every channel to the cluster) when
    /// [`ClientConfig::tls_ca`] is set; a one-line error names a bad file.
    pub fn install_tls(&self) -> Result<(), String> {
        match &self.tls_ca {
            Some(ca) => tusk_common::net::install_tls(&tusk_common::config::TlsConfig {
                enabled: true,
                ca_file: Some(ca.clone()),
                ..Default::default()
            }),
            None => Ok(()),
        }
    }
    pub fn with_read_shortcircuit(mut self, on: bool) -> Self {
        self.read_shortcircuit = on;
        self
    }
    /// Sends `token` as the user token on every namenode call.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self.token_error = None;
        self
    }
    /// Signs every namenode call with the cluster secret (daemons only).
    pub fn with_node_auth(
        mut self,
        secret: std::sync::Arc<tusk_common::security::ClusterSecret>,
    ) -> Self {
        self.node_auth = Some(NodeAuth(secret));
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
