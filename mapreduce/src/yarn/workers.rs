//! A daemon's background tasks (servers, heartbeats, monitors), each with
//! its own stop signal, stopped one by one in the order they started.

use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

/// How long a worker may take to stop before it is aborted.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The workers of one daemon (`what` names it in log lines). Dropping it
/// closes every stop channel, which stops the workers too.
pub(crate) struct Workers {
    what: &'static str,
    list: Vec<(&'static str, watch::Sender<bool>, JoinHandle<()>)>,
}

impl Workers {
    pub fn new(what: &'static str) -> Self {
        Workers {
            what,
            list: Vec::new(),
        }
    }

    /// Starts `run(stop)` as the worker `name`; it must return once `stop`
    /// turns true.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, run: F)
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = watch::channel(false);
        self.list.push((name, tx, tokio::spawn(run(rx))));
    }

    /// Stops every worker in start order, aborting one that takes longer
    /// than [`STOP_GRACE`].
    pub async fn stop(self) {
        for (name, stop, mut task) in self.list {
            stop.send_replace(true);
            if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
                warn!(
                    worker = name,
                    "{} worker did not stop in {STOP_GRACE:?}; aborting it", self.what
                );
                task.abort();
            }
        }
    }
}
