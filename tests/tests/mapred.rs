//! `mapred` on a real multi-process cluster (`scripts/local-cluster.sh`):
//! jobs run by an application master in a container, their tasks in
//! containers on the node managers, output checked against a
//! single-process reference; bad input and a node manager killed mid-job.

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use tusk_client::DfsClient;
use tusk_tests::{names, put, wait_for, LocalCluster};

/// Small blocks so a few MB make several splits; quick failure detection.
const CONFIG: &str = r#"
[cluster]
replication = 2
block_size = "1MiB"
heartbeat_interval = "1s"
dead_after = "5s"
"#;

fn mapred(c: &LocalCluster, args: &[&str]) -> Output {
    c.tool("mapred", args)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Waits until job `app` has ended (succeeded, failed or killed); its
/// `mapred status`.
async fn wait_job_end(c: &LocalCluster, app: &str, limit: Duration) -> Result<String> {
    wait_for("the job to end", limit, || {
        let s = text(&mapred(c, &["status", app]).stdout);
        let done = s.contains("State: SUCCEEDED")
            || s.contains("State: FAILED")
            || s.contains("State: KILLED");
        async move { done }
    })
    .await?;
    Ok(text(&mapred_ok(c, &["status", app])?.stdout))
}

/// Runs `mapred ARGS`, failing with its stderr unless it exits 0.
fn mapred_ok(c: &LocalCluster, args: &[&str]) -> Result<Output> {
    c.tool_ok("mapred", args)
}

/// Deterministic text: `lines` lines of words from a skewed vocabulary.
fn corpus(lines: usize, seed: u64) -> String {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut s = String::new();
    for _ in 0..lines {
        let n = 1 + next() % 12;
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            let r = next() % 1000;
            // Zipf-ish: a few words very often.
            let w = if r < 300 { r % 10 } else { r };
            s.push_str(&format!("w{w}"));
        }
        s.push('\n');
    }
    s
}

fn reference_count(s: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for w in s.split_whitespace() {
        *m.entry(w.to_string()).or_insert(0) += 1;
    }
    m
}

/// word → count from every `part-r-*` file of `dir`.
async fn read_counts(client: &DfsClient, dir: &str) -> Result<BTreeMap<String, u64>> {
    let mut m = BTreeMap::new();
    for n in names(client, dir).await? {
        if !n.starts_with("part-") {
            continue;
        }
        let data = client.read_file(&format!("{dir}/{n}")).await?;
        for line in text(&data).lines() {
            let (w, c) = line
                .split_once('\t')
                .with_context(|| format!("{dir}/{n}: bad line {line:?}"))?;
            ensure!(
                m.insert(w.to_string(), c.parse::<u64>()?).is_none(),
                "{w} in two parts"
            );
        }
    }
    Ok(m)
}

/// How many applications the resource manager knows.
fn app_count(c: &LocalCluster) -> Result<usize> {
    let out = mapred_ok(c, &["list", "--all"])?;
    Ok(text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("application_"))
        .count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wordcount_checks_failures_and_history() -> Result<()> {
    let c = LocalCluster::start(3, Some(CONFIG))?;
    let client = c.client().await?;
    let input = corpus(120_000, 7); // ~3.5 MB: 4 blocks of 1 MiB
    ensure!(input.len() > 3 << 20, "input too small: {}", input.len());
    put(&client, "/in/words.txt", input.as_bytes()).await?;

    // Two reducers: part-r-00000 and part-r-00001, equal to the reference.
    let out = mapred_ok(
        &c,
        &["wordcount", "-D", "mapreduce.job.reduces=2", "/in", "/out"],
    )?;
    let err = text(&out.stderr);
    ensure!(err.contains("map 100% reduce 100%"), "no progress: {err}");
    ensure!(err.contains("MAP_INPUT_RECORDS=120000"), "counters: {err}");
    ensure!(err.contains("completed successfully"), "{err}");
    assert_eq!(
        names(&client, "/out").await?,
        vec!["_SUCCESS", "part-r-00000", "part-r-00001"]
    );
    assert_eq!(read_counts(&client, "/out").await?, reference_count(&input));

    // An existing output directory: one line, exit 1, nothing submitted.
    let before = app_count(&c)?;
    let out = mapred(&c, &["wordcount", "/in", "/out"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "mapred: /out: Output directory already exists"
    );
    let out = mapred(&c, &["wordcount", "/no/such/input", "/out2"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "mapred: /no/such/input: Input path does not exist"
    );
    assert_eq!(app_count(&c)?, before, "a rejected job was submitted");

    // A mapper that fails on every attempt: the job fails naming the task,
    // and leaves no output.
    let out = mapred(
        &c,
        &[
            "-D",
            "mapreduce.mapper.regexmapper..group=notanumber",
            "-D",
            "mapreduce.map.maxattempts=2",
            "grep",
            "/in",
            "/grepped",
            "w1[0-9]",
        ],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    ensure!(
        err.contains("failed 2 times") && err.contains("_m_0000") && err.contains("notanumber"),
        "diagnostic should name the task and cause: {err}"
    );
    ensure!(
        !client.exists("/grepped").await?
            || !names(&client, "/grepped")
                .await?
                .iter()
                .any(|n| n.starts_with("part-")),
        "a failed job left output"
    );

    // The job history lists both.
    let list = text(&mapred_ok(&c, &["list", "--all"])?.stdout);
    ensure!(
        list.lines()
            .any(|l| l.contains("SUCCEEDED") && l.contains("wordcount")),
        "{list}"
    );
    ensure!(
        list.lines()
            .any(|l| l.contains("FAILED") && l.contains("grep")),
        "{list}"
    );
    // status and logs of the finished job.
    let id = list
        .lines()
        .find(|l| l.contains("wordcount"))
        .and_then(|l| l.split_whitespace().next())
        .context("job id")?
        .to_string();
    let status = text(&mapred_ok(&c, &["status", &id])?.stdout);
    ensure!(
        status.contains("State: SUCCEEDED") && status.contains("REDUCE_OUTPUT_RECORDS="),
        "{status}"
    );
    let logs = text(&mapred_ok(&c, &["logs", &id])?.stdout);
    ensure!(logs.contains("task starting"), "{logs}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teragen_terasort_teravalidate() -> Result<()> {
    let c = LocalCluster::start(3, Some(CONFIG))?;
    let client = c.client().await?;
    // 40,000 rows of 100 bytes = 4 MB.
    mapred_ok(
        &c,
        &["-D", "mapreduce.job.maps=3", "teragen", "40000", "/tera/in"],
    )?;
    let gen: u64 = client
        .list("/tera/in")
        .await?
        .iter()
        .filter(|s| s.name.starts_with("part-"))
        .map(|s| s.length)
        .sum();
    assert_eq!(gen, 4_000_000);
    mapred_ok(
        &c,
        &[
            "-D",
            "mapreduce.job.reduces=3",
            "terasort",
            "/tera/in",
            "/tera/out",
        ],
    )?;
    mapred_ok(&c, &["teravalidate", "/tera/out", "/tera/report"])?;
    let mut report = String::new();
    for n in names(&client, "/tera/report").await? {
        if n.starts_with("part-") {
            report.push_str(&text(
                &client.read_file(&format!("/tera/report/{n}")).await?,
            ));
        }
    }
    ensure!(
        !report.contains("error"),
        "teravalidate found errors: {report}"
    );
    ensure!(report.contains("40000"), "row count missing: {report}");

    // `mapred run` ships a job binary (here mapred itself, which holds the
    // built-in jobs) and the containers run the localized copy.
    let input = corpus(5_000, 3);
    put(&client, "/small/words.txt", input.as_bytes()).await?;
    let bin = c.bin_dir.join("mapred");
    let bin = bin.to_str().context("bin path")?;
    mapred_ok(&c, &["run", bin, "--", "wordcount", "/small", "/small-out"])?;
    assert_eq!(
        read_counts(&client, "/small-out").await?,
        reference_count(&input)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_stops_a_job_and_leaves_no_output() -> Result<()> {
    let c = LocalCluster::start(2, Some(CONFIG))?;
    let client = c.client().await?;
    put(&client, "/in/words.txt", corpus(1_000, 5).as_bytes()).await?;
    // Maps bigger than any node: the job runs (its AM does) but never ends.
    let out = mapred_ok(
        &c,
        &[
            "--detach",
            "-D",
            "mapreduce.map.memory.mb=1000000",
            "wordcount",
            "/in",
            "/out",
        ],
    )?;
    let app = text(&out.stdout).trim().to_string();
    wait_for("the job to run", Duration::from_secs(30), || {
        let out = mapred(&c, &["list"]);
        let running = text(&out.stdout)
            .lines()
            .any(|l| l.starts_with(&app) && l.contains("RUNNING"));
        async move { running }
    })
    .await?;
    mapred_ok(&c, &["kill", &app])?;
    let status = text(&mapred_ok(&c, &["status", &app])?.stdout);
    ensure!(status.contains("State: KILLED"), "{status}");
    let list = text(&mapred_ok(&c, &["list"])?.stdout);
    ensure!(
        !list.contains(&app),
        "a killed job is still listed as running: {list}"
    );
    wait_for(
        "the killed job's output to go",
        Duration::from_secs(10),
        || {
            let client = client.clone();
            async move {
                match client.exists("/out").await {
                    Ok(false) => true,
                    Ok(true) => names(&client, "/out")
                        .await
                        .map(|n| n.iter().all(|n| !n.starts_with("part-") && n != "_SUCCESS"))
                        .unwrap_or(false),
                    Err(_) => false,
                }
            }
        },
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_survives_a_node_manager_killed_mid_job() -> Result<()> {
    let c = LocalCluster::start(3, Some(CONFIG))?;
    let client = c.client().await?;
    let input = corpus(200_000, 11); // ~6 MB: 6 maps
    put(&client, "/in/words.txt", input.as_bytes()).await?;
    let out = mapred_ok(&c, &["--detach", "wordcount", "/in", "/out"])?;
    let app = text(&out.stdout).trim().to_string();
    ensure!(app.starts_with("application_"), "{app}");
    // Mid-job: once its application master runs.
    wait_for("the job to run", Duration::from_secs(30), || {
        let out = mapred(&c, &["list"]);
        let running = text(&out.stdout)
            .lines()
            .any(|l| l.starts_with(&app) && l.contains("RUNNING"));
        async move { running }
    })
    .await?;
    c.kill9("nodemanager-2")?;
    let status = wait_job_end(&c, &app, Duration::from_secs(50)).await?;
    ensure!(status.contains("State: SUCCEEDED"), "{status}");
    ensure!(client.exists("/out/_SUCCESS").await?);
    assert_eq!(read_counts(&client, "/out").await?, reference_count(&input));
    Ok(())
}

/// The pid of the application master process of `app` (its environment
/// names the application), if it runs.
fn am_pid(app: &str) -> Option<i32> {
    let needle = format!("TUSK_APP_ID={app}");
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !text(&cmd).contains("__am") {
            continue;
        }
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if text(&env).split('\0').any(|kv| kv == needle) {
            return Some(pid);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_survives_losing_its_application_master_node() -> Result<()> {
    let c = LocalCluster::start(3, Some(CONFIG))?;
    let client = c.client().await?;
    let input = corpus(100_000, 13);
    put(&client, "/in/words.txt", input.as_bytes()).await?;
    let out = mapred_ok(&c, &["--detach", "wordcount", "/in", "/out"])?;
    let app = text(&out.stdout).trim().to_string();
    wait_for(
        "the application master to run",
        Duration::from_secs(30),
        || {
            let found = am_pid(&app).is_some();
            async move { found }
        },
    )
    .await?;
    // The node manager holding the AM container (the job's lowest-numbered
    // container): its RPC port is base + 10 * i + 2.
    let mut node = None;
    wait_for("the AM's logs", Duration::from_secs(10), || {
        let logs = text(&mapred(&c, &["logs", &app]).stdout);
        node = logs
            .lines()
            .filter(|l| l.starts_with("==> container_") && l.contains(" stderr "))
            .min()
            .and_then(|l| l.split("(node 127.0.0.1:").nth(1))
            .and_then(|r| r.split(',').next())
            .and_then(|p| p.parse::<u16>().ok())
            .map(|port| ((port - c.base_port - 2) / 10) as usize);
        let found = node.is_some();
        async move { found }
    })
    .await?;
    let node = node.context("AM node")?;
    // The machine dies: its node manager and the AM process with it.
    c.kill9(&format!("nodemanager-{node}"))?;
    if let Some(pid) = am_pid(&app) {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    let status = wait_job_end(&c, &app, Duration::from_secs(50)).await?;
    ensure!(status.contains("State: SUCCEEDED"), "{status}");
    ensure!(
        status.contains("AM attempt: 2"),
        "the job did not need a second AM: {status}"
    );
    assert_eq!(read_counts(&client, "/out").await?, reference_count(&input));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_survives_a_datanode_killed_mid_job() -> Result<()> {
    let c = LocalCluster::start(3, Some(CONFIG))?;
    let client = c.client().await?;
    let input = corpus(200_000, 17); // ~6 MB at replication 2: every block twice
    put(&client, "/in/words.txt", input.as_bytes()).await?;
    let out = mapred_ok(
        &c,
        &[
            "--detach",
            "-D",
            "mapreduce.job.reduces=2",
            "wordcount",
            "/in",
            "/out",
        ],
    )?;
    let app = text(&out.stdout).trim().to_string();
    wait_for("the job to run", Duration::from_secs(30), || {
        let running = text(&mapred(&c, &["list"]).stdout)
            .lines()
            .any(|l| l.starts_with(&app) && l.contains("RUNNING"));
        async move { running }
    })
    .await?;
    c.kill9("datanode-2")?;
    let status = wait_job_end(&c, &app, Duration::from_secs(50)).await?;
    ensure!(status.contains("State: SUCCEEDED"), "{status}");
    assert_eq!(read_counts(&client, "/out").await?, reference_count(&input));
    Ok(())
}

/// The value of counter `name` in `mapred`'s counter listing (`NAME=N`).
fn counter(listing: &str, name: &str) -> Result<i64> {
    let prefix = format!("{name}=");
    listing
        .lines()
        .find_map(|l| l.trim().strip_prefix(&prefix))
        .with_context(|| format!("no {name} in:\n{listing}"))?
        .trim()
        .parse()
        .with_context(|| format!("{name} is not a number"))
}

/// Five workers on hosts of their own (127.0.0.11-15), replication 2: the
/// scheduler puts at least 90 % of the maps on a node that holds their
/// split, as the job's DATA_LOCAL_MAPS counter tells.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maps_run_where_their_blocks_are() -> Result<()> {
    let c = LocalCluster::start_distinct_hosts(5, Some(CONFIG))?;
    let client = c.client().await?;
    let input = corpus(500_000, 23); // ~14 MB: 14 blocks of 1 MiB, 2 replicas each
    put(&client, "/in/words.txt", input.as_bytes()).await?;
    let hosts: std::collections::BTreeSet<String> = client
        .block_locations("/in/words.txt")
        .await?
        .iter()
        .flat_map(|b| b.locations.iter().map(|l| l.host.clone()))
        .collect();
    ensure!(hosts.len() == 5, "blocks on hosts {hosts:?}, expected five");

    let out = mapred_ok(&c, &["wordcount", "/in", "/out"])?;
    let err = text(&out.stderr);
    let launched = counter(&err, "TOTAL_LAUNCHED_MAPS")?;
    let local = counter(&err, "DATA_LOCAL_MAPS")?;
    let blocks = input.len().div_ceil(1 << 20) as i64;
    ensure!(launched >= blocks, "{launched} maps for {blocks} blocks");
    eprintln!("{local} of {launched} maps ran data-local");
    ensure!(
        local * 10 >= launched * 9,
        "only {local} of {launched} maps ran data-local:\n{err}"
    );
    assert_eq!(read_counts(&client, "/out").await?, reference_count(&input));
    Ok(())
}

/// The example job crate (examples/inverted-index), written against the
/// public job API only, shipped with `mapred run` like a jar: its output
/// equals an index computed here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_job_crate_runs_with_mapred_run() -> Result<()> {
    let c = LocalCluster::start(3, Some(CONFIG))?;
    let bin = c.bin_dir.join("inverted-index");
    ensure!(
        bin.exists(),
        "{} missing: `cargo build --bins` builds it",
        bin.display()
    );
    let client = c.client().await?;
    let a = corpus(60_000, 5) + "Tusk TUSK tusk-job x\n"; // ~1.7 MB: two blocks
    let b = "the tusk example\nw1 w2 w3 w999 theonlyone\n".to_string();
    put(&client, "/docs/a.txt", a.as_bytes()).await?;
    put(&client, "/docs/b.txt", b.as_bytes()).await?;

    let bin = bin.to_str().context("bin path")?;
    let out = mapred_ok(
        &c,
        &[
            "run",
            bin,
            "--",
            "-D",
            "mapreduce.job.reduces=2",
            "/docs",
            "/index",
        ],
    )?;
    ensure!(
        text(&out.stderr).contains("completed successfully"),
        "{}",
        text(&out.stderr)
    );

    // The reference: word -> (count, files), words of >= 3 alphanumerics.
    let mut want: BTreeMap<String, (u64, std::collections::BTreeSet<&str>)> = BTreeMap::new();
    for (name, body) in [("a.txt", &a), ("b.txt", &b)] {
        for w in body.split(|ch: char| !ch.is_ascii_alphanumeric()) {
            if w.len() >= 3 {
                let e = want.entry(w.to_ascii_lowercase()).or_default();
                e.0 += 1;
                e.1.insert(name);
            }
        }
    }
    let mut got = BTreeMap::new();
    for name in names(&client, "/index").await? {
        if !name.starts_with("part-r-") {
            continue;
        }
        let body = client.read_file(&format!("/index/{name}")).await?;
        for line in text(&body).lines() {
            let mut f = line.split('\t');
            let (Some(w), Some(n), Some(files), None) = (f.next(), f.next(), f.next(), f.next())
            else {
                anyhow::bail!("bad line {line:?}");
            };
            got.insert(w.to_string(), (n.parse::<u64>()?, files.to_string()));
        }
    }
    let want: BTreeMap<String, (u64, String)> = want
        .into_iter()
        .map(|(w, (n, f))| (w, (n, f.into_iter().collect::<Vec<_>>().join(","))))
        .collect();
    ensure!(
        got.len() == want.len(),
        "{} words, want {}",
        got.len(),
        want.len()
    );
    assert_eq!(got, want);
    assert_eq!(got["tusk"], (4, "a.txt,b.txt".to_string()));
    Ok(())
}

/// Reducers asked for before any map ran (slow start 0) take every free
/// container — reduces outrank maps, as in Hadoop — and would wait forever
/// for maps that cannot get one. The AM notices the maps waiting, holds the
/// reduce asks back and preempts reducers; the job completes, correct.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reducers_holding_the_cluster_are_preempted_for_starved_maps() -> Result<()> {
    // Two node managers of 2 GiB: four 1 GiB containers, one for the AM.
    let config = format!("{CONFIG}\n[nodemanager]\nmemory = \"2GiB\"\n");
    let c = LocalCluster::start(2, Some(&config))?;
    let client = c.client().await?;
    let input = corpus(120_000, 29); // ~3.5 MB: 4 maps
    put(&client, "/in/words.txt", input.as_bytes()).await?;
    let out = mapred_ok(
        &c,
        &[
            "--detach",
            "-D",
            "mapreduce.job.reduces=3",
            "-D",
            "mapreduce.job.reduce.slowstart.completedmaps=0",
            "-D",
            "mapreduce.job.reducer.preempt.delay.sec=1",
            "wordcount",
            "/in",
            "/out",
        ],
    )?;
    let app = text(&out.stdout).trim().to_string();
    let status = wait_job_end(&c, &app, Duration::from_secs(120)).await?;
    ensure!(status.contains("State: SUCCEEDED"), "{status}");
    assert_eq!(read_counts(&client, "/out").await?, reference_count(&input));
    let logs = text(&mapred_ok(&c, &["logs", &app])?.stdout);
    ensure!(
        logs.contains("preempting a reducer"),
        "no reducer was preempted: the test did not starve the maps"
    );
    Ok(())
}
