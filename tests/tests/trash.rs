//! The trash, as Hadoop's `TrashPolicyDefault`: `dfs rm` moves paths into
//! `.Trash/Current`; the namenode's emptier checkpoints `Current` and deletes
//! checkpoints older than `[namenode] trash_interval`; `dfs expunge` does the
//! same for the caller (`-immediate`: everything); an interval of 0 turns the
//! trash off.

mod common;

use common::write_file;
use std::time::Duration;
use tusk_common::trash;
use tusk_tests::{wait_for, MiniCluster};

const WEEK: Duration = Duration::from_secs(7 * 86_400);

/// Names in a directory, sorted.
async fn names(c: &tusk_client::DfsClient, dir: &str) -> anyhow::Result<Vec<String>> {
    let mut v: Vec<String> = c.list(dir).await?.into_iter().map(|s| s.name).collect();
    v.sort();
    Ok(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emptier_passes_and_expunge_checkpoint_and_delete_by_age() -> anyhow::Result<()> {
    // A week's interval: the emptier's own passes (at multiples of a week
    // since the epoch) stay out of the way; the test runs passes itself.
    let cluster = MiniCluster::builder().trash(WEEK, WEEK).build().await?;
    let state = cluster.namenode().expect("namenode runs").state().clone();
    let root = cluster.client().await?;
    root.mkdirs("/user/alice", 0o755, true).await?;
    root.set_owner("/user/alice", "alice", "").await?;
    root.mkdirs("/user/nobody-deleted-anything", 0o755, true)
        .await?;
    let alice = cluster.client_as("alice").await?;
    let t = "/user/alice/.Trash";

    write_file(&alice, "/user/alice/f1", b"one").await?;
    let (code, out, err) = cluster.dfs("alice", &["rm", "/user/alice/f1"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "Moved: '/user/alice/f1' to trash at: /user/alice/.Trash/Current/user/alice/f1\n"
    );
    alice.mkdirs(&format!("{t}/notes"), 0o700, false).await?;

    // First pass: Current becomes a checkpoint named by the time.
    let t0 = tusk_common::sys::now_ms();
    let r = tusk_namenode::trash::pass(&state, t0, WEEK).await?;
    assert_eq!((r.checkpoints_made, r.checkpoints_deleted), (1, 0));
    let first = trash::checkpoint_name(t0, 0);
    assert_eq!(names(&alice, t).await?, [first.clone(), "notes".into()]);
    let kept = format!("{t}/{first}/user/alice/f1");
    assert_eq!(common::read_file(&alice, &kept).await?, b"one");

    // A week and a bit later: the first checkpoint is deleted, the new
    // Current checkpointed; the directory that is no checkpoint stays.
    write_file(&alice, "/user/alice/f2", b"two").await?;
    assert!(alice.move_to_trash("/user/alice/f2").await?.is_some());
    let t1 = t0 + WEEK.as_millis() as u64 + 2_000;
    let r = tusk_namenode::trash::pass(&state, t1, WEEK).await?;
    assert_eq!((r.checkpoints_made, r.checkpoints_deleted), (1, 1));
    let second = trash::checkpoint_name(t1, 0);
    assert_eq!(names(&alice, t).await?, [second.clone(), "notes".into()]);

    // `dfs expunge`: nothing expired now; Current is checkpointed.
    write_file(&alice, "/user/alice/f3", b"three").await?;
    assert!(alice.move_to_trash("/user/alice/f3").await?.is_some());
    let (code, out, err) = cluster.dfs("alice", &["expunge"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Created trash checkpoint: /user/alice/.Trash/"),
        "{out}"
    );
    assert_eq!(names(&alice, t).await?.len(), 3);
    // `-immediate`: every checkpoint goes; what is no checkpoint stays.
    let (code, out, err) = cluster.dfs("alice", &["expunge", "-immediate"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.matches("Deleted trash checkpoint: ").count(),
        2,
        "{out}"
    );
    assert_eq!(names(&alice, t).await?, ["notes"]);
    assert_eq!(root.fs_stats().await?.total_files, 0);
    // Expunge with no trash at all is fine and says nothing.
    let (code, out, _) = cluster.dfs("bob", &["expunge"]).await;
    assert_eq!((code, out.as_str()), (0, ""));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emptier_empties_the_trash_on_its_own() -> anyhow::Result<()> {
    let cluster = MiniCluster::builder()
        .trash(Duration::from_secs(2), Duration::from_millis(500))
        .build()
        .await?;
    let c = cluster.client().await?;
    write_file(&c, "/f", b"bytes").await?;
    let (code, out, err) = cluster.dfs("root", &["rm", "/f"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("to trash at: /user/root/.Trash/Current/f"),
        "{out}"
    );
    // Checkpointed within half a second, deleted 2 s after that.
    wait_for("a checkpoint of Current", Duration::from_secs(10), || {
        let c = c.clone();
        async move {
            names(&c, "/user/root/.Trash")
                .await
                .is_ok_and(|n| n.len() == 1 && n[0] != "Current")
        }
    })
    .await?;
    wait_for("the trash to be emptied", Duration::from_secs(20), || {
        let c = c.clone();
        async move {
            names(&c, "/user/root/.Trash")
                .await
                .is_ok_and(|n| n.is_empty())
        }
    })
    .await?;
    assert_eq!(c.fs_stats().await?.total_files, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_trash_interval_of_0_rm_deletes_at_once() -> anyhow::Result<()> {
    let cluster = MiniCluster::builder()
        .trash(Duration::ZERO, Duration::ZERO)
        .build()
        .await?;
    let c = cluster.client().await?;
    write_file(&c, "/f", b"bytes").await?;
    let (code, out, err) = cluster.dfs("root", &["rm", "/f"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Deleted /f\n");
    assert!(c.get_file_info("/user/root/.Trash").await?.is_none());
    assert_eq!(c.server_defaults().await?.trash_interval, Duration::ZERO);
    Ok(())
}
