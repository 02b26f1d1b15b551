//! The namenode's edit log through the real binaries: acknowledged mkdirs,
//! creates and deletes survive two kill -9s of the namenode, the second one
//! after a restart that replayed the log and checkpointed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tusk_client::{CreateOptions, DfsClient, FileType};
use tusk_tests::{wait_for, LocalCluster};

/// What the writers saw acknowledged: path → is a file; and paths whose
/// deletion was acknowledged.
#[derive(Default)]
struct Acked {
    present: BTreeMap<String, bool>,
    gone: BTreeSet<String>,
}

/// One writer: mkdir, create + close an empty file, and in round 2 delete a
/// directory it made in round 1, until the first error (the kill). An
/// operation that failed is in flight at the kill: either outcome is fine,
/// so its path is not checked.
async fn burst(c: DfsClient, w: usize, round: usize, acked: Arc<Mutex<Acked>>) {
    for i in 0u32.. {
        let d = format!("/el/r{round}-w{w}-d{i:05}");
        if c.mkdirs(&d, 0o755, false).await.is_err() {
            return;
        }
        acked.lock().unwrap().present.insert(d, false);
        let f = format!("/el/r{round}-w{w}-f{i:05}");
        let created = match c.create(&f, CreateOptions::default()).await {
            Ok(wr) => wr.close().await.is_ok(),
            Err(_) => false,
        };
        if !created {
            return;
        }
        acked.lock().unwrap().present.insert(f, true);
        if round == 2 {
            let old = format!("/el/r1-w{w}-d{i:05}");
            if !acked.lock().unwrap().present.contains_key(&old) {
                continue;
            }
            let deleted = c.delete(&old, false).await;
            let mut a = acked.lock().unwrap();
            a.present.remove(&old);
            match deleted {
                Ok(true) => {
                    a.gone.insert(old);
                }
                _ => return,
            }
        }
    }
}

/// Runs 6 writers until `at_least` more operations are acknowledged, then
/// kill -9s the namenode and waits for the writers to give up.
fn round(
    cl: &LocalCluster,
    rt: &tokio::runtime::Runtime,
    round: usize,
    acked: &Arc<Mutex<Acked>>,
    at_least: usize,
) -> anyhow::Result<()> {
    rt.block_on(async {
        let c = cl.client().await?;
        let before = {
            let a = acked.lock().unwrap();
            a.present.len() + a.gone.len()
        };
        let tasks: Vec<_> = (0..6)
            .map(|w| tokio::spawn(burst(c.clone(), w, round, acked.clone())))
            .collect();
        let a = acked.clone();
        wait_for(
            "a burst of acknowledged operations",
            Duration::from_secs(90),
            || {
                let a = a.lock().unwrap();
                let n = a.present.len() + a.gone.len();
                async move { n >= before + at_least }
            },
        )
        .await?;
        cl.kill9("namenode")?;
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(90), t)
                .await
                .map_err(|_| anyhow::anyhow!("a writer did not stop after the kill"))??;
        }
        anyhow::Ok(())
    })
}

/// Every acknowledged path is there with its kind; every acknowledged
/// deletion stuck.
fn check(
    cl: &LocalCluster,
    rt: &tokio::runtime::Runtime,
    acked: &Arc<Mutex<Acked>>,
) -> anyhow::Result<()> {
    rt.block_on(async {
        let c = cl.client().await?;
        let listed: BTreeMap<String, bool> = c
            .list("/el")
            .await?
            .into_iter()
            .map(|s| {
                (
                    format!("/el/{}", s.name),
                    s.file_type != FileType::Directory,
                )
            })
            .collect();
        let a = acked.lock().unwrap();
        let lost: Vec<_> = a
            .present
            .iter()
            .filter(|(p, is_file)| listed.get(*p) != Some(*is_file))
            .collect();
        assert!(
            lost.is_empty(),
            "{} of {} acknowledged paths lost or wrong, e.g. {:?}",
            lost.len(),
            a.present.len(),
            &lost[..lost.len().min(5)]
        );
        let back: Vec<_> = a.gone.iter().filter(|p| listed.contains_key(*p)).collect();
        assert!(
            back.is_empty(),
            "{} acknowledged deletions undone, e.g. {:?}",
            back.len(),
            &back[..back.len().min(5)]
        );
        anyhow::Ok(())
    })
}

#[test]
fn kill_9_twice_with_a_replay_between_loses_no_acknowledged_change() -> anyhow::Result<()> {
    let cl = LocalCluster::start(1, None)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        cl.client().await?.mkdirs("/el", 0o755, false).await?;
        anyhow::Ok(())
    })?;
    let acked = Arc::new(Mutex::new(Acked::default()));

    round(&cl, &rt, 1, &acked, 1500)?;
    // The namenode keeps its edit log beside sled in the name dir.
    let edits = cl.home.path().join("namenode/name/edits");
    let segments = std::fs::read_dir(&edits)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("edits_"))
        .count();
    assert!(segments >= 1, "no edit log segment in {}", edits.display());
    cl.script("start")?;
    check(&cl, &rt, &acked)?;

    // The restart replayed the log into sled and checkpointed; kill again
    // with new work, deletions of old work among it, in the new segment.
    round(&cl, &rt, 2, &acked, 1500)?;
    cl.script("start")?;
    check(&cl, &rt, &acked)?;
    assert!(
        !acked.lock().unwrap().gone.is_empty(),
        "round 2 deleted something"
    );
    Ok(())
}
