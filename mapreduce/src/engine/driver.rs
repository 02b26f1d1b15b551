//! The job driver: the brain of the future MR application master.
//!
//! Given a job, its configuration and paths, the driver checks the output
//! directory, computes splits, lets the job prepare (terasort samples
//! here), sets up the committer and then runs an event loop:
//!
//! - every map is launched at once through the [`TaskLauncher`], preferring
//!   its split's hosts; the launcher queues what it cannot run yet;
//! - reducers are launched once `mapreduce.job.reduce.slowstart.completedmaps`
//!   of the maps are done; they learn map output locations from the
//!   driver's [`Umbilical`] (a versioned snapshot they wait on);
//! - a failed attempt is retried (up to `mapreduce.{map,reduce}.maxattempts`,
//!   default 4) avoiding the hosts it failed on; a map whose output a
//!   reducer could not fetch loses its completion, counts a failed attempt
//!   and runs again elsewhere;
//! - a reduce (or a map of a map-only job) is committed by the driver when
//!   it succeeds; the first successful attempt wins;
//! - when a task exhausts its attempts, the job fails with a diagnostic
//!   naming the task, the attempt's host and the cause.
//!
//! At the end the driver tells running attempts to stop, waits for them,
//! and commits the job (`_SUCCESS`) or aborts it (no part files remain).
//! Counters are the sum of each task's successful attempt plus job
//! counters (launched/failed tasks, data-local/rack-local/other maps).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tusk_client::DfsClient;

use super::api::{InputFormat, Job, JobConf, JobPaths, NUM_MAPS};
use super::committer::{check_output, Committer};
use super::counters::{self as c, Counters};
use super::error::{EngineError, Result};
use super::splits::{compute_splits, row_splits, InputSplit};
use super::task::{
    AttemptId, FetchFailure, MapOutputLocation, MapOutputs, TaskReport, TaskSpec, TaskStatus,
    TaskType, TaskWork, Umbilical,
};

/// Key of the number of rows a generated-input job (teragen) produces.
pub const NUM_ROWS: &str = "mapreduce.terasort.num-rows";

/// One attempt to start.
#[derive(Debug, Clone)]
pub struct LaunchRequest {
    /// `local_dir` is left for the launcher to fill (the node's
    /// application directory).
    pub spec: TaskSpec,
    /// Hosts holding the input (maps), best first.
    pub preferred_hosts: Vec<String>,
    pub preferred_racks: Vec<String>,
    /// Hosts this task already failed on.
    pub avoid_hosts: Vec<String>,
}

/// How an attempt ended and where it ran.
#[derive(Debug, Clone)]
pub struct TaskCompletion {
    pub report: TaskReport,
    pub host: String,
    pub rack: String,
    /// `host:port` of the shuffle service holding a map's output.
    pub shuffle_addr: String,
    /// The launcher ended the attempt to give its container to other work
    /// (a killed attempt that is run again without counting as a failure).
    pub preempted: bool,
}

/// Runs task attempts somewhere: on local threads ([`super::local::LocalLauncher`])
/// or in YARN containers. The future resolves when the attempt has ended,
/// always with a completion (a launch failure is a failed report).
pub trait TaskLauncher: Send + Sync {
    fn launch(
        &self,
        req: LaunchRequest,
        umbilical: Arc<dyn Umbilical>,
    ) -> BoxFuture<'static, TaskCompletion>;
}

/// Map and reduce completion, 0..=1, and the number of tasks.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct JobProgress {
    pub map: f32,
    pub reduce: f32,
    #[serde(default)]
    pub maps: usize,
    #[serde(default)]
    pub reduces: usize,
}

/// Callback for progress changes.
pub type ProgressFn = Arc<dyn Fn(JobProgress) + Send + Sync>;

/// Who the job is and how to report.
#[derive(Clone)]
pub struct JobOptions {
    /// Application id (`<cluster_ts>_<seq>`), part of every attempt id.
    pub app_id: String,
    /// Attempt of the application master (committer paths).
    pub app_attempt: u32,
    /// Called when the progress changes by at least 1 %.
    pub progress: Option<ProgressFn>,
}

impl JobOptions {
    /// A fresh application id from the clock.
    pub fn new() -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let seq = rand::random::<u16>() % 10000;
        Self {
            app_id: format!("{ms}_{seq:04}"),
            app_attempt: 1,
            progress: None,
        }
    }

    pub fn with_progress(mut self, f: impl Fn(JobProgress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }
}

impl Default for JobOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// One attempt, for the job history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub attempt: String,
    pub host: String,
    pub status: TaskStatus,
    pub diagnostics: String,
    pub elapsed_ms: u64,
}

/// The outcome of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobReport {
    pub app_id: String,
    pub job: String,
    pub output: String,
    pub succeeded: bool,
    /// Why it failed (names task, host, cause); empty on success.
    pub diagnostics: String,
    pub counters: Counters,
    pub maps: usize,
    pub reduces: usize,
    pub elapsed_ms: u64,
    pub attempts: Vec<AttemptRecord>,
}

impl JobReport {
    /// `Err(JobFailed)` with the diagnostics when the job failed.
    pub fn into_result(self) -> Result<JobReport> {
        if self.succeeded {
            Ok(self)
        } else {
            Err(EngineError::JobFailed(self.diagnostics))
        }
    }
}

/// The driver's side of the umbilical.
struct DriverUmbilical {
    outputs: watch::Sender<MapOutputs>,
    failures: mpsc::UnboundedSender<FetchFailure>,
    progress: Mutex<HashMap<String, f32>>,
    stop: AtomicBool,
}

impl Umbilical for DriverUmbilical {
    fn map_outputs(&self, seen: u64) -> BoxFuture<'_, MapOutputs> {
        let mut rx = self.outputs.subscribe();
        Box::pin(async move {
            match rx.wait_for(|m| m.version > seen || m.stop).await {
                Ok(m) => m.clone(),
                Err(_) => MapOutputs {
                    stop: true,
                    ..MapOutputs::default()
                },
            }
        })
    }

    fn fetch_failed(&self, failure: FetchFailure) {
        let _ = self.failures.send(failure);
    }

    fn progress(&self, attempt_id: &str, fraction: f32) {
        self.progress
            .lock()
            .insert(attempt_id.to_string(), fraction.clamp(0.0, 1.0));
    }

    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Where one task stands.
#[derive(Default)]
struct TaskState {
    launched: u32,
    failures: u32,
    running: u32,
    /// The successful attempt, its host and shuffle address.
    done: Option<(String, String, String)>,
    counters: Option<Counters>,
    failed_hosts: Vec<String>,
}

struct Driver {
    job_name: String,
    conf: JobConf,
    app_id: String,
    app_attempt: u32,
    output: String,
    namenode: String,
    user: String,
    launcher: Arc<dyn TaskLauncher>,
    umb: Arc<DriverUmbilical>,
    committer: Committer,
    splits: Vec<InputSplit>,
    num_reduces: u32,
    maps: Vec<TaskState>,
    reduces: Vec<TaskState>,
    maps_done: usize,
    reduces_done: usize,
    reduces_started: bool,
    running: usize,
    job_counters: Counters,
    failure: Option<String>,
    events: mpsc::UnboundedSender<(TaskCompletion, Instant)>,
    attempts: Vec<AttemptRecord>,
    max_map: u32,
    max_reduce: u32,
    slowstart: f64,
}

/// Runs a job to the end. Setup problems (missing input, existing output,
/// bad configuration) are errors before anything runs; a job whose task
/// exhausts its attempts returns a report with `succeeded == false`.
pub async fn run_job(
    client: &DfsClient,
    job: Arc<dyn Job>,
    mut conf: JobConf,
    paths: &JobPaths,
    launcher: Arc<dyn TaskLauncher>,
    opts: JobOptions,
) -> Result<JobReport> {
    let started = Instant::now();
    let output = client.resolve(&paths.output)?;
    check_output(client, &output).await?;
    let splits = match job.input_format(&conf) {
        InputFormat::Rows => {
            let rows = conf.get_u64(NUM_ROWS, 0)?;
            let maps = conf.get_u64(NUM_MAPS, 2)?;
            row_splits(rows, maps)
        }
        format => {
            let inputs: Vec<String> = paths
                .inputs
                .iter()
                .map(|p| client.resolve(p))
                .collect::<std::result::Result<_, _>>()?;
            if inputs.is_empty() {
                return Err(EngineError::Config(format!(
                    "job {} has no input paths",
                    job.name()
                )));
            }
            compute_splits(client, &inputs, format).await?
        }
    };
    let num_reduces = conf.num_reduces()?;
    conf.sort_bytes()?;
    job.prepare(client, &mut conf, &splits).await?;
    let committer = Committer::new(client.clone(), &output, opts.app_attempt);
    committer.setup_job().await?;
    let (outputs, _) = watch::channel(MapOutputs {
        version: 1,
        maps: vec![None; splits.len()],
        stop: false,
    });
    let (fail_tx, mut fail_rx) = mpsc::unbounded_channel();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let umb = Arc::new(DriverUmbilical {
        outputs,
        failures: fail_tx,
        progress: Mutex::new(HashMap::new()),
        stop: AtomicBool::new(false),
    });
    let mut d = Driver {
        job_name: job.name().to_string(),
        app_id: opts.app_id.clone(),
        app_attempt: opts.app_attempt,
        output: output.clone(),
        namenode: client.config().namenode.clone(),
        user: client.user().to_string(),
        launcher,
        umb: umb.clone(),
        committer: committer.clone(),
        maps: (0..splits.len()).map(|_| TaskState::default()).collect(),
        reduces: (0..num_reduces).map(|_| TaskState::default()).collect(),
        splits,
        num_reduces,
        maps_done: 0,
        reduces_done: 0,
        reduces_started: false,
        running: 0,
        job_counters: Counters::new(),
        failure: None,
        events: ev_tx,
        attempts: Vec::new(),
        max_map: conf.max_attempts(true)?,
        max_reduce: conf.max_attempts(false)?,
        slowstart: conf.slowstart()?,
        conf,
    };
    tracing::info!(app = %d.app_id, job = %d.job_name, maps = d.splits.len(), reduces = num_reduces, "job starting");
    for i in 0..d.splits.len() as u32 {
        d.launch(TaskType::Map, i);
    }
    d.maybe_start_reduces();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut last = JobProgress {
        map: -1.0,
        reduce: -1.0,
        ..JobProgress::default()
    };
    while d.failure.is_none() && !d.finished() {
        tokio::select! {
            Some((ev, t0)) = ev_rx.recv() => d.on_completion(ev, t0).await,
            Some(f) = fail_rx.recv() => d.on_fetch_failure(f),
            _ = tick.tick() => d.report_progress(&opts, &mut last),
        }
        d.maybe_start_reduces();
    }
    // Stop whatever still runs and wait for it, so no attempt writes after
    // the commit or abort below.
    umb.stop.store(true, Ordering::Relaxed);
    umb.outputs.send_modify(|m| m.stop = true);
    while d.running > 0 {
        match tokio::time::timeout(Duration::from_secs(60), ev_rx.recv()).await {
            Ok(Some((ev, t0))) => d.on_completion(ev, t0).await,
            _ => {
                tracing::warn!(running = d.running, "attempts did not stop within 60 s");
                break;
            }
        }
    }
    let mut succeeded = d.failure.is_none();
    let mut diagnostics = d.failure.clone().unwrap_or_default();
    if succeeded {
        if let Err(e) = committer.commit_job().await {
            succeeded = false;
            diagnostics = format!("job commit failed: {e}");
            let _ = committer.abort_job().await;
        }
    } else if let Err(e) = committer.abort_job().await {
        tracing::warn!("abort of {output} failed: {e}");
    }
    if succeeded {
        d.report_progress(&opts, &mut last);
    }
    let mut counters = d.job_counters.clone();
    for st in d.maps.iter().chain(d.reduces.iter()) {
        if let Some(tc) = &st.counters {
            counters.merge(tc);
        }
    }
    tracing::info!(app = %d.app_id, succeeded, "job finished");
    Ok(JobReport {
        app_id: d.app_id.clone(),
        job: d.job_name.clone(),
        output,
        succeeded,
        diagnostics,
        counters,
        maps: d.splits.len(),
        reduces: num_reduces as usize,
        elapsed_ms: started.elapsed().as_millis() as u64,
        attempts: d.attempts,
    })
}

impl Driver {
    fn finished(&self) -> bool {
        self.maps_done == self.maps.len()
            && (self.num_reduces == 0 || self.reduces_done == self.reduces.len())
    }

    fn state(&mut self, t: TaskType, i: u32) -> &mut TaskState {
        match t {
            TaskType::Map => &mut self.maps[i as usize],
            TaskType::Reduce => &mut self.reduces[i as usize],
        }
    }

    fn maybe_start_reduces(&mut self) {
        if self.reduces_started || self.num_reduces == 0 || self.failure.is_some() {
            return;
        }
        let need = (self.slowstart * self.maps.len() as f64).ceil() as usize;
        if self.maps_done >= need.min(self.maps.len()) {
            self.reduces_started = true;
            for r in 0..self.num_reduces {
                self.launch(TaskType::Reduce, r);
            }
        }
    }

    fn launch(&mut self, t: TaskType, i: u32) {
        let st = self.state(t, i);
        let attempt = st.launched;
        st.launched += 1;
        st.running += 1;
        let avoid = st.failed_hosts.clone();
        self.running += 1;
        let (work, hosts, racks) = match t {
            TaskType::Map => {
                let split = self.splits[i as usize].clone();
                let hosts = split.hosts().to_vec();
                let racks = split.racks().to_vec();
                (
                    TaskWork::Map {
                        split,
                        num_reduces: self.num_reduces,
                    },
                    hosts,
                    racks,
                )
            }
            TaskType::Reduce => (
                TaskWork::Reduce {
                    num_maps: self.maps.len() as u32,
                },
                Vec::new(),
                Vec::new(),
            ),
        };
        let counter = match t {
            TaskType::Map => c::TOTAL_LAUNCHED_MAPS,
            TaskType::Reduce => c::TOTAL_LAUNCHED_REDUCES,
        };
        self.job_counters.incr(c::JOB_GROUP, counter, 1);
        let spec = TaskSpec {
            job: self.job_name.clone(),
            conf: self.conf.clone(),
            attempt: AttemptId {
                app_id: self.app_id.clone(),
                task_type: t,
                task: i,
                attempt,
            },
            namenode: self.namenode.clone(),
            user: self.user.clone(),
            output: self.output.clone(),
            app_attempt: self.app_attempt,
            local_dir: PathBuf::new(),
            work,
        };
        tracing::debug!(attempt = %spec.attempt, "launching");
        let attempt_id = spec.attempt.clone();
        let fut = self.launcher.launch(
            LaunchRequest {
                spec,
                preferred_hosts: hosts,
                preferred_racks: racks,
                avoid_hosts: avoid,
            },
            self.umb.clone(),
        );
        let tx = self.events.clone();
        let t0 = Instant::now();
        tokio::spawn(async move {
            // A launcher that panics must not leave the driver waiting.
            let done = match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
                Ok(done) => done,
                Err(_) => TaskCompletion {
                    report: TaskReport {
                        attempt: attempt_id,
                        status: TaskStatus::Failed,
                        counters: Counters::new(),
                        diagnostics: "task launcher panicked".into(),
                    },
                    host: String::new(),
                    rack: String::new(),
                    shuffle_addr: String::new(),
                    preempted: false,
                },
            };
            let _ = tx.send((done, t0));
        });
    }

    fn fail(&mut self, why: String) {
        if self.failure.is_none() {
            tracing::warn!("job failing: {why}");
            self.failure = Some(why);
        }
    }

    async fn on_completion(&mut self, ev: TaskCompletion, t0: Instant) {
        let a = ev.report.attempt.clone();
        let attempt_id = a.to_string();
        self.running -= 1;
        self.umb.progress.lock().remove(&attempt_id);
        self.attempts.push(AttemptRecord {
            attempt: attempt_id.clone(),
            host: ev.host.clone(),
            status: ev.report.status,
            diagnostics: ev.report.diagnostics.clone(),
            elapsed_ms: t0.elapsed().as_millis() as u64,
        });
        if a.task_type == TaskType::Map {
            let split = &self.splits[a.task as usize];
            let locality = if split.hosts().contains(&ev.host) {
                c::DATA_LOCAL_MAPS
            } else if !ev.rack.is_empty() && split.racks().contains(&ev.rack) {
                c::RACK_LOCAL_MAPS
            } else {
                c::OTHER_LOCAL_MAPS
            };
            self.job_counters.incr(c::JOB_GROUP, locality, 1);
        }
        let commits_output = a.task_type == TaskType::Reduce || self.num_reduces == 0;
        let stopping = self.failure.is_some() || self.umb.should_stop();
        let st = self.state(a.task_type, a.task);
        st.running -= 1;
        match ev.report.status {
            TaskStatus::Succeeded if st.done.is_some() || stopping => {
                if commits_output {
                    let _ = self.committer.abort_task(&attempt_id).await;
                }
            }
            TaskStatus::Succeeded => {
                if commits_output {
                    match self.committer.commit_task(&a.task_id(), &attempt_id).await {
                        Ok(true) => {}
                        Ok(false) => return,
                        Err(e) => {
                            self.fail(format!(
                                "commit of {attempt_id} (on {}) failed: {e}",
                                ev.host
                            ));
                            return;
                        }
                    }
                }
                let st = self.state(a.task_type, a.task);
                st.done = Some((attempt_id.clone(), ev.host.clone(), ev.shuffle_addr.clone()));
                st.counters = Some(ev.report.counters);
                match a.task_type {
                    TaskType::Map => {
                        self.maps_done += 1;
                        if self.num_reduces > 0 {
                            let loc = MapOutputLocation {
                                attempt_id,
                                host: ev.host,
                                shuffle_addr: ev.shuffle_addr,
                            };
                            self.umb.outputs.send_modify(|m| {
                                m.maps[a.task as usize] = Some(loc);
                                m.version += 1;
                            });
                        }
                    }
                    TaskType::Reduce => self.reduces_done += 1,
                }
            }
            TaskStatus::Killed if stopping => {
                if commits_output {
                    let _ = self.committer.abort_task(&attempt_id).await;
                }
            }
            TaskStatus::Killed if ev.preempted => {
                if commits_output {
                    let _ = self.committer.abort_task(&attempt_id).await;
                }
                tracing::info!(attempt = %attempt_id, host = %ev.host, "attempt preempted; it runs again later: {}", ev.report.diagnostics);
                let st = self.state(a.task_type, a.task);
                if st.running == 0 && st.done.is_none() {
                    self.launch(a.task_type, a.task);
                }
            }
            TaskStatus::Failed | TaskStatus::Killed => {
                if commits_output {
                    let _ = self.committer.abort_task(&attempt_id).await;
                }
                if stopping {
                    return;
                }
                let why = format!("{attempt_id} on {}: {}", ev.host, ev.report.diagnostics);
                self.attempt_failed(a.task_type, a.task, &ev.host, why);
            }
        }
    }

    /// Counts a failed attempt; retries or fails the job.
    fn attempt_failed(&mut self, t: TaskType, i: u32, host: &str, why: String) {
        let (max, counter) = match t {
            TaskType::Map => (self.max_map, c::NUM_FAILED_MAPS),
            TaskType::Reduce => (self.max_reduce, c::NUM_FAILED_REDUCES),
        };
        self.job_counters.incr(c::JOB_GROUP, counter, 1);
        let task_id = AttemptId {
            app_id: self.app_id.clone(),
            task_type: t,
            task: i,
            attempt: 0,
        }
        .task_id();
        let st = self.state(t, i);
        st.failures += 1;
        st.failed_hosts.push(host.to_string());
        let (failures, busy) = (st.failures, st.running > 0 || st.done.is_some());
        tracing::info!(task = %task_id, failures, "attempt failed: {why}");
        if failures >= max {
            self.fail(format!(
                "Task {task_id} failed {failures} times; last failure: {why}"
            ));
        } else if !busy {
            self.launch(t, i);
        }
    }

    fn on_fetch_failure(&mut self, f: FetchFailure) {
        if self.failure.is_some() || f.map as usize >= self.maps.len() {
            return;
        }
        let st = &mut self.maps[f.map as usize];
        if st.done.as_ref().map(|d| d.0.as_str()) != Some(f.map_attempt.as_str()) {
            return; // already re-run
        }
        st.done = None;
        st.counters = None;
        self.maps_done -= 1;
        self.umb.outputs.send_modify(|m| {
            m.maps[f.map as usize] = None;
            m.version += 1;
        });
        let why = format!(
            "output of {} on {} could not be fetched by {}: {}",
            f.map_attempt, f.host, f.reduce_attempt, f.cause
        );
        self.attempt_failed(TaskType::Map, f.map, &f.host, why);
    }

    fn progress(&self) -> JobProgress {
        let running = self.umb.progress.lock();
        let mut map_run = 0.0f32;
        let mut red_run = 0.0f32;
        for (id, p) in running.iter() {
            match id.rsplit('_').nth(2) {
                Some("m") => map_run += p,
                Some("r") => red_run += p,
                _ => {}
            }
        }
        let map = if self.maps.is_empty() {
            1.0
        } else {
            ((self.maps_done as f32 + map_run) / self.maps.len() as f32).min(1.0)
        };
        let reduce = if self.reduces.is_empty() {
            if self.finished() {
                1.0
            } else {
                0.0
            }
        } else {
            ((self.reduces_done as f32 + red_run) / self.reduces.len() as f32).min(1.0)
        };
        JobProgress {
            map,
            reduce,
            maps: self.maps.len(),
            reduces: self.reduces.len(),
        }
    }

    fn report_progress(&self, opts: &JobOptions, last: &mut JobProgress) {
        let Some(cb) = &opts.progress else { return };
        let p = self.progress();
        let pct = |x: f32| (x * 100.0).floor() as i32;
        if pct(p.map) != pct(last.map) || pct(p.reduce) != pct(last.reduce) {
            *last = p;
            cb(p);
        }
    }
}
