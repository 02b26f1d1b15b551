//! Built-in jobs and the registry that finds a job by name (a task
//! process rebuilds its job from the name in its spec).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::api::Job;

pub mod loganalysis;
pub mod tera;
pub mod text;
pub mod wordcount;

/// Jobs by name.
#[derive(Clone, Default)]
pub struct JobRegistry {
    jobs: BTreeMap<String, Arc<dyn Job>>,
}

impl JobRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in jobs.
    pub fn builtin() -> Self {
        let mut r = Self::new();
        r.register(Arc::new(wordcount::WordCount));
        r.register(Arc::new(text::Grep));
        r.register(Arc::new(text::Sort));
        r.register(Arc::new(tera::TeraGen));
        r.register(Arc::new(tera::TeraSort));
        r.register(Arc::new(tera::TeraValidate));
        r.register(Arc::new(crate::streaming::StreamingJob));
        r.register(Arc::new(loganalysis::LogAnalysis));
        r
    }

    /// Adds (or replaces) a job under its name.
    pub fn register(&mut self, job: Arc<dyn Job>) -> &mut Self {
        self.jobs.insert(job.name().to_string(), job);
        self
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Job>> {
        self.jobs.get(name).cloned()
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.jobs.keys().map(|s| s.as_str()).collect()
    }
}
