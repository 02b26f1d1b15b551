//! Ids in Hadoop's formats, so operators recognize them:
//! `application_<rm start ms>_<seq:04>`, `appattempt_<rm start ms>_<seq:04>_<n:06>`,
//! `container_<rm start ms>_<seq:04>_<attempt:02>_<n:06>`.

/// `application_<cluster_ts>_<seq>`.
pub fn app_id(cluster_ts: u64, seq: u64) -> String {
    format!("application_{cluster_ts}_{seq:04}")
}

/// The attempt `n` (from 1) of an application.
pub fn attempt_id(app_id: &str, n: u32) -> String {
    let rest = app_id.strip_prefix("application_").unwrap_or(app_id);
    format!("appattempt_{rest}_{n:06}")
}

/// Container `n` of attempt `attempt` of an application.
pub fn container_id(app_id: &str, attempt: u32, n: u64) -> String {
    let rest = app_id.strip_prefix("application_").unwrap_or(app_id);
    format!("container_{rest}_{attempt:02}_{n:06}")
}

/// The application of an attempt id, if it is well-formed.
pub fn app_of_attempt(attempt_id: &str) -> Option<String> {
    let rest = attempt_id.strip_prefix("appattempt_")?;
    let (app, n) = rest.rsplit_once('_')?;
    n.parse::<u32>().ok()?;
    Some(format!("application_{app}"))
}

/// The attempt number (from 1) of an attempt id, if it is well-formed.
pub fn attempt_number(attempt_id: &str) -> Option<u32> {
    app_of_attempt(attempt_id)?;
    attempt_id.rsplit_once('_')?.1.parse().ok()
}

/// Whether `s` can safely be used as one path component (ids from the
/// network name directories).
pub fn is_safe_component(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        let a = app_id(1700000000000, 3);
        assert_eq!(a, "application_1700000000000_0003");
        let t = attempt_id(&a, 2);
        assert_eq!(t, "appattempt_1700000000000_0003_000002");
        assert_eq!(app_of_attempt(&t).as_deref(), Some(a.as_str()));
        assert_eq!(attempt_number(&t), Some(2));
        assert_eq!(
            container_id(&a, 1, 5),
            "container_1700000000000_0003_01_000005"
        );
        assert_eq!(app_of_attempt("appattempt_x"), None);
        assert!(is_safe_component(&a));
        assert!(!is_safe_component("../x"));
        assert!(!is_safe_component(".."));
        assert!(!is_safe_component("a/b"));
    }
}
