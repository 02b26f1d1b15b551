//! `tusk.mr` proto ⇄ engine types, in one place.

use super::pb;
use crate::engine::counters::Counters;
use crate::engine::task::{
    AttemptId, FetchFailure, MapOutputLocation, MapOutputs, TaskReport, TaskStatus,
};

pub fn map_outputs_to_pb(m: &MapOutputs) -> pb::GetMapOutputsResponse {
    pb::GetMapOutputsResponse {
        version: m.version,
        maps: m
            .maps
            .iter()
            .map(|l| match l {
                Some(l) => pb::MapOutputLocation {
                    available: true,
                    attempt_id: l.attempt_id.clone(),
                    host: l.host.clone(),
                    shuffle_addr: l.shuffle_addr.clone(),
                },
                None => pb::MapOutputLocation::default(),
            })
            .collect(),
        stop: m.stop,
    }
}

pub fn map_outputs_from_pb(r: pb::GetMapOutputsResponse) -> MapOutputs {
    MapOutputs {
        version: r.version,
        maps: r
            .maps
            .into_iter()
            .map(|l| {
                l.available.then_some(MapOutputLocation {
                    attempt_id: l.attempt_id,
                    host: l.host,
                    shuffle_addr: l.shuffle_addr,
                })
            })
            .collect(),
        stop: r.stop,
    }
}

pub fn fetch_failure_to_pb(container_id: &str, f: FetchFailure) -> pb::FetchFailedRequest {
    pb::FetchFailedRequest {
        container_id: container_id.to_string(),
        reduce_attempt: f.reduce_attempt,
        map: f.map,
        map_attempt: f.map_attempt,
        host: f.host,
        cause: f.cause,
    }
}

pub fn fetch_failure_from_pb(r: pb::FetchFailedRequest) -> FetchFailure {
    FetchFailure {
        reduce_attempt: r.reduce_attempt,
        map: r.map,
        map_attempt: r.map_attempt,
        host: r.host,
        cause: r.cause,
    }
}

pub fn status_to_pb(s: TaskStatus) -> pb::TaskStatus {
    match s {
        TaskStatus::Succeeded => pb::TaskStatus::Succeeded,
        TaskStatus::Failed => pb::TaskStatus::Failed,
        TaskStatus::Killed => pb::TaskStatus::Killed,
    }
}

pub fn done_to_pb(container_id: &str, r: &TaskReport) -> pb::DoneRequest {
    pb::DoneRequest {
        container_id: container_id.to_string(),
        attempt_id: r.attempt.to_string(),
        status: status_to_pb(r.status) as i32,
        counters_json: r.counters.to_json(),
        diagnostics: r.diagnostics.clone(),
    }
}

/// The report of `attempt` from a Done request. Counters that do not parse
/// turn a success into a failure (the AM could not account for it).
pub fn done_from_pb(attempt: AttemptId, r: pb::DoneRequest) -> TaskReport {
    let mut status = match r.status() {
        pb::TaskStatus::Succeeded => TaskStatus::Succeeded,
        pb::TaskStatus::Killed => TaskStatus::Killed,
        pb::TaskStatus::Failed | pb::TaskStatus::Unspecified => TaskStatus::Failed,
    };
    let mut diagnostics = r.diagnostics;
    let counters = match Counters::from_json(&r.counters_json) {
        Ok(c) => c,
        Err(e) => {
            if status == TaskStatus::Succeeded {
                status = TaskStatus::Failed;
                diagnostics = format!("{attempt}: unreadable counters in its report: {e}");
            }
            Counters::new()
        }
    };
    TaskReport {
        attempt,
        status,
        counters,
        diagnostics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::task::TaskType;

    #[test]
    fn map_outputs_round_trip() {
        let m = MapOutputs {
            version: 7,
            maps: vec![
                None,
                Some(MapOutputLocation {
                    attempt_id: "attempt_a_m_000001_0".into(),
                    host: "h1".into(),
                    shuffle_addr: "h1:13562".into(),
                }),
            ],
            stop: false,
        };
        assert_eq!(map_outputs_from_pb(map_outputs_to_pb(&m)), m);
    }

    #[test]
    fn done_round_trips_and_bad_counters_fail() {
        let attempt = AttemptId {
            app_id: "application_1_0001".into(),
            task_type: TaskType::Map,
            task: 2,
            attempt: 1,
        };
        let mut counters = Counters::new();
        counters.task("MAP_INPUT_RECORDS", 5);
        let r = TaskReport {
            attempt: attempt.clone(),
            status: TaskStatus::Succeeded,
            counters,
            diagnostics: String::new(),
        };
        assert_eq!(done_from_pb(attempt.clone(), done_to_pb("c", &r)), r);
        let mut bad = done_to_pb("c", &r);
        bad.counters_json = "{".into();
        let got = done_from_pb(attempt, bad);
        assert_eq!(got.status, TaskStatus::Failed);
        assert!(got.diagnostics.contains("counters"), "{}", got.diagnostics);
    }
}
