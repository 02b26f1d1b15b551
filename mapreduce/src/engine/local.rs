//! [`LocalLauncher`]: runs task attempts in this process, each on a tokio
//! task (its CPU work on blocking threads), with a bounded number at once.
//!
//! It simulates the nodes of a cluster: each attempt is placed on one of
//! the configured hosts (the split's preferred host when possible, never a
//! host the task failed on when another exists), gets that host's
//! application directory as `$TUSK_APP_LOCAL_DIR` (`<root>/<host>/<app>`),
//! and map outputs are served by one real shuffle server over all hosts'
//! directories, so reducers use the same gRPC protocol as on a cluster.
//! Specs pass through JSON on the way in, as they would to a container.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};
use tusk_client::DfsClient;

use super::counters::Counters;
use super::driver::{LaunchRequest, TaskCompletion, TaskLauncher};
use super::error::{EngineError, Result};
use super::jobs::JobRegistry;
use super::shuffle::{self, OutputResolver};
use super::task::{run_task, TaskReport, TaskSpec, TaskStatus, TaskType, Umbilical};

/// A simulated node: host name (as datanodes report it) and rack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalHost {
    pub host: String,
    pub rack: String,
}

struct Inner {
    client: DfsClient,
    registry: JobRegistry,
    root: PathBuf,
    hosts: Vec<LocalHost>,
    /// Maps and reduces have separate slots: reducers started early wait
    /// for map outputs and must not keep the maps from running.
    map_slots: Arc<Semaphore>,
    reduce_slots: Arc<Semaphore>,
    shuffle_addr: String,
    next: AtomicUsize,
    /// Dropping it stops the shuffle server.
    _shutdown: oneshot::Sender<()>,
}

/// In-process task launcher (see the module docs).
#[derive(Clone)]
pub struct LocalLauncher {
    inner: Arc<Inner>,
}

/// A host name as a directory name.
fn host_dir(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl LocalLauncher {
    /// Starts the shuffle server; at most `slots` maps and `slots` reduces
    /// run at once.
    pub async fn start(
        client: DfsClient,
        registry: JobRegistry,
        root: &Path,
        mut hosts: Vec<LocalHost>,
        slots: usize,
    ) -> Result<Self> {
        if hosts.is_empty() {
            hosts.push(LocalHost {
                host: "localhost".into(),
                rack: "/default-rack".into(),
            });
        }
        std::fs::create_dir_all(root).map_err(|e| EngineError::io(root.display(), e))?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| EngineError::io("shuffle listener 127.0.0.1:0", e))?;
        let shuffle_addr = listener
            .local_addr()
            .map_err(|e| EngineError::io("shuffle listener", e))?
            .to_string();
        let dirs: Vec<PathBuf> = hosts.iter().map(|h| root.join(host_dir(&h.host))).collect();
        let resolver: OutputResolver = Arc::new(move |app, attempt| {
            dirs.iter()
                .map(|d| d.join(app).join("output").join(attempt))
                .find(|p| p.is_dir())
        });
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let stop = async {
                let _ = rx.await;
            };
            if let Err(e) = shuffle::serve(listener, resolver, stop).await {
                tracing::error!("local shuffle server failed: {e}");
            }
        });
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                registry,
                root: root.to_path_buf(),
                hosts,
                map_slots: Arc::new(Semaphore::new(slots.max(1))),
                reduce_slots: Arc::new(Semaphore::new(slots.max(1))),
                shuffle_addr,
                next: AtomicUsize::new(0),
                _shutdown: tx,
            }),
        })
    }

    /// One simulated host per distinct datanode host of the cluster.
    pub async fn for_cluster(
        client: DfsClient,
        registry: JobRegistry,
        root: &Path,
        slots: usize,
    ) -> Result<Self> {
        let mut hosts: Vec<LocalHost> = Vec::new();
        for dn in client.datanode_report().await? {
            if !hosts.iter().any(|h| h.host == dn.info.host) {
                hosts.push(LocalHost {
                    host: dn.info.host.clone(),
                    rack: dn.info.rack.clone(),
                });
            }
        }
        Self::start(client, registry, root, hosts, slots).await
    }

    /// The shuffle server's address.
    pub fn shuffle_addr(&self) -> &str {
        &self.inner.shuffle_addr
    }

    /// Removes an application's local directories on every host.
    pub fn cleanup_app(&self, app_id: &str) {
        for h in &self.inner.hosts {
            let _ = std::fs::remove_dir_all(self.inner.root.join(host_dir(&h.host)).join(app_id));
        }
    }

    /// Preferred host not avoided, else the next host not avoided
    /// (round robin), else the next host.
    fn place(&self, req: &LaunchRequest) -> LocalHost {
        let hosts = &self.inner.hosts;
        let ok = |h: &LocalHost| !req.avoid_hosts.contains(&h.host);
        if let Some(h) = req
            .preferred_hosts
            .iter()
            .find_map(|p| hosts.iter().find(|h| &h.host == p && ok(h)))
        {
            return h.clone();
        }
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        (0..hosts.len())
            .map(|k| &hosts[(start + k) % hosts.len()])
            .find(|h| ok(h))
            .unwrap_or(&hosts[start % hosts.len()])
            .clone()
    }
}

impl TaskLauncher for LocalLauncher {
    fn launch(
        &self,
        req: LaunchRequest,
        umbilical: Arc<dyn Umbilical>,
    ) -> BoxFuture<'static, TaskCompletion> {
        let this = self.clone();
        Box::pin(async move {
            let host = this.place(&req);
            let mut spec = req.spec;
            spec.local_dir = this
                .inner
                .root
                .join(host_dir(&host.host))
                .join(&spec.attempt.app_id);
            let attempt = spec.attempt.clone();
            let failed = |diagnostics: String| TaskReport {
                attempt: attempt.clone(),
                status: TaskStatus::Failed,
                counters: Counters::new(),
                diagnostics,
            };
            // As a container would receive it.
            let report = match TaskSpec::from_json(&spec.to_json()) {
                Err(e) => failed(e.to_string()),
                Ok(spec) => match this.inner.registry.get(&spec.job) {
                    None => failed(format!("unknown job {:?}", spec.job)),
                    Some(job) => {
                        let slots = match spec.attempt.task_type {
                            TaskType::Map => &this.inner.map_slots,
                            TaskType::Reduce => &this.inner.reduce_slots,
                        };
                        let _permit = slots.clone().acquire_owned().await;
                        run_task(spec, job, this.inner.client.clone(), umbilical).await
                    }
                },
            };
            TaskCompletion {
                report,
                host: host.host,
                rack: host.rack,
                shuffle_addr: this.inner.shuffle_addr.clone(),
                preempted: false,
            }
        })
    }
}
