//! The MapReduce engine end to end on an in-process MiniCluster (3
//! datanodes, 1 MiB blocks so inputs span several blocks and splits),
//! through the LocalLauncher and the real shuffle protocol.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{ensure, Context as _, Result};
use futures::future::BoxFuture;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tusk_client::{CreateOptions, DfsClient};
use tusk_mapreduce::engine::api::{
    Context, Job, JobConf, Mapper, Reducer, Values, NUM_REDUCES, SORT_MB,
};
use tusk_mapreduce::engine::counters::{self as c};
use tusk_mapreduce::engine::driver::{
    run_job, JobOptions, JobReport, LaunchRequest, TaskCompletion, TaskLauncher,
};
use tusk_mapreduce::engine::error::{EngineError, Result as EngineResult};
use tusk_mapreduce::engine::jobs::wordcount::{SumReducer, WordMapper, WORDCOUNT_GROUP, WORDS};
use tusk_mapreduce::engine::jobs::JobRegistry;
use tusk_mapreduce::engine::local::LocalLauncher;
use tusk_mapreduce::engine::task::{TaskType, Umbilical};
use tusk_tests::MiniCluster;

const MB: u64 = 1 << 20;

struct Env {
    _cluster: MiniCluster,
    client: DfsClient,
    registry: JobRegistry,
    launcher: LocalLauncher,
    _dir: tempfile::TempDir,
}

async fn env() -> Result<Env> {
    tusk_tests::init_logging();
    let cluster = MiniCluster::builder()
        .datanodes(3)
        .block_size(MB)
        .distinct_hosts(true)
        .build()
        .await?;
    let client = cluster.client().await?;
    let mut registry = JobRegistry::builtin();
    registry.register(Arc::new(Flaky { fail_attempts: 2 }));
    registry.register(Arc::new(Flaky { fail_attempts: 100 }));
    let dir = tempfile::tempdir()?;
    let launcher =
        LocalLauncher::for_cluster(client.clone(), registry.clone(), dir.path(), 4).await?;
    Ok(Env {
        _cluster: cluster,
        client,
        registry,
        launcher,
        _dir: dir,
    })
}

impl Env {
    async fn run(
        &self,
        job: &str,
        args: &[&str],
        settings: &[(&str, &str)],
    ) -> EngineResult<JobReport> {
        self.run_with(job, args, settings, Arc::new(self.launcher.clone()))
            .await
    }

    async fn run_with(
        &self,
        job: &str,
        args: &[&str],
        settings: &[(&str, &str)],
        launcher: Arc<dyn TaskLauncher>,
    ) -> EngineResult<JobReport> {
        let job = self.registry.get(job).expect("registered job");
        let mut conf = JobConf::new();
        for (k, v) in settings {
            conf.set(*k, *v);
        }
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let paths = job.configure(&args, &mut conf)?;
        run_job(&self.client, job, conf, &paths, launcher, JobOptions::new()).await
    }

    async fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        let mut w = self.client.create(path, CreateOptions::default()).await?;
        w.write_all(data).await?;
        w.close().await?;
        Ok(())
    }

    /// Concatenated `part-*` files of `out`, in name order.
    async fn parts(&self, out: &str) -> Result<Vec<Vec<u8>>> {
        let mut files: Vec<_> = self
            .client
            .list(out)
            .await?
            .into_iter()
            .filter(|f| f.name.starts_with("part-"))
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = Vec::new();
        for f in files {
            out.push(self.client.read_file(&f.path).await?);
        }
        Ok(out)
    }

    async fn word_counts(&self, out: &str) -> Result<BTreeMap<String, u64>> {
        let mut m = BTreeMap::new();
        for part in self.parts(out).await? {
            let text = String::from_utf8(part)?;
            for line in text.lines() {
                let (w, n) = line.split_once('\t').context("word\\tcount")?;
                ensure!(m.insert(w.to_string(), n.parse()?).is_none(), "{w} twice");
            }
        }
        Ok(m)
    }

    async fn assert_committed(&self, out: &str) -> Result<()> {
        ensure!(
            self.client.exists(&format!("{out}/_SUCCESS")).await?,
            "no _SUCCESS in {out}"
        );
        ensure!(
            !self.client.exists(&format!("{out}/_temporary")).await?,
            "_temporary left in {out}"
        );
        Ok(())
    }
}

/// Text of `lines` lines of random words from a small vocabulary.
fn text(seed: u64, lines: usize) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let vocab: Vec<String> = (0..500).map(|i| format!("w{i}x{}", i * 7 % 13)).collect();
    let mut s = String::new();
    for _ in 0..lines {
        let n = rng.gen_range(0..25);
        for j in 0..n {
            if j > 0 {
                s.push(if rng.gen_bool(0.1) { '\t' } else { ' ' });
            }
            s.push_str(&vocab[rng.gen_range(0..vocab.len())]);
        }
        s.push('\n');
    }
    s
}

fn reference_count(texts: &[&str]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for t in texts {
        for w in t.split_ascii_whitespace() {
            *m.entry(w.to_string()).or_insert(0) += 1;
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wordcount_over_blocks_equals_a_reference_count() -> Result<()> {
    let env = env().await?;
    let big = text(1, 30_000); // ≈ 2.4 MB: three blocks
    let small = text(2, 100);
    env.write("/in/big.txt", big.as_bytes()).await?;
    env.write("/in/small.txt", small.as_bytes()).await?;
    env.write("/in/_ignored", b"hidden hidden\n").await?;
    env.write("/in/.also-ignored", b"hidden\n").await?;
    let report = env
        .run(
            "wordcount",
            &["/in", "/out"],
            &[(NUM_REDUCES, "3"), (SORT_MB, "1")],
        )
        .await?;
    ensure!(report.succeeded, "job failed: {}", report.diagnostics);
    let blocks = big.len().div_ceil(MB as usize);
    ensure!(blocks >= 3, "input spans only {blocks} blocks");
    ensure!(
        report.maps == blocks + 1,
        "{} maps for {blocks} + 1 blocks",
        report.maps
    );
    env.assert_committed("/out").await?;
    let got = env.word_counts("/out").await?;
    ensure!(
        got == reference_count(&[&big, &small]),
        "counts differ from the reference"
    );
    ensure!(env.parts("/out").await?.len() == 3, "three part files");
    let k = &report.counters;
    let lines = (big.lines().count() + small.lines().count()) as i64;
    ensure!(
        k.get(c::TASK_GROUP, c::MAP_INPUT_RECORDS) == lines,
        "MAP_INPUT_RECORDS"
    );
    ensure!(
        k.get(c::TASK_GROUP, c::REDUCE_OUTPUT_RECORDS) == got.len() as i64,
        "REDUCE_OUTPUT_RECORDS"
    );
    let words: u64 = got.values().sum();
    // wordcount's mapper counts in memory (in-mapper combining) and emits
    // one pair per distinct word of its split; it counts the words it saw.
    ensure!(
        k.get(WORDCOUNT_GROUP, WORDS) == words as i64,
        "wordcount's WORDS counter"
    );
    let map_out = k.get(c::TASK_GROUP, c::MAP_OUTPUT_RECORDS);
    ensure!(
        map_out >= got.len() as i64 && map_out < words as i64,
        "MAP_OUTPUT_RECORDS {map_out}: {} distinct words, {words} words",
        got.len()
    );
    ensure!(
        k.get(c::TASK_GROUP, c::COMBINE_INPUT_RECORDS) >= map_out,
        "combiner ran on every record"
    );
    ensure!(
        k.get(c::TASK_GROUP, c::SPILLED_RECORDS) > 0,
        "SPILLED_RECORDS"
    );
    ensure!(
        k.get(c::TASK_GROUP, c::REDUCE_SHUFFLE_BYTES) > 0,
        "REDUCE_SHUFFLE_BYTES"
    );
    ensure!(
        k.get(c::FS_GROUP, c::HDFS_BYTES_READ) >= (big.len() + small.len()) as i64,
        "HDFS_BYTES_READ"
    );
    ensure!(
        k.get(c::FS_GROUP, c::HDFS_BYTES_WRITTEN) > 0,
        "HDFS_BYTES_WRITTEN"
    );
    let launched = k.get(c::JOB_GROUP, c::TOTAL_LAUNCHED_MAPS);
    ensure!(launched == report.maps as i64, "TOTAL_LAUNCHED_MAPS");
    ensure!(
        k.get(c::JOB_GROUP, c::DATA_LOCAL_MAPS)
            + k.get(c::JOB_GROUP, c::RACK_LOCAL_MAPS)
            + k.get(c::JOB_GROUP, c::OTHER_LOCAL_MAPS)
            == launched,
        "locality counters add up"
    );
    ensure!(
        k.get(c::JOB_GROUP, c::DATA_LOCAL_MAPS) > 0,
        "some map ran data-local"
    );
    ensure!(
        k.get(c::JOB_GROUP, c::TOTAL_LAUNCHED_REDUCES) == 3,
        "TOTAL_LAUNCHED_REDUCES"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_crossing_block_boundaries_are_read_exactly_once() -> Result<()> {
    let env = env().await?;
    // 1024-byte lines start exactly on block boundaries; 1000-byte lines
    // cross them; a third file has lines of random length.
    let mut rng = StdRng::seed_from_u64(3);
    let mut expected = BTreeMap::new();
    for (name, len) in [
        ("aligned", Some(1024usize)),
        ("crossing", Some(1000)),
        ("random", None),
    ] {
        let mut data = String::new();
        let mut i = 0;
        // A third block of more than 10% of a block: a smaller tail would
        // join the second split (Hadoop's SPLIT_SLOP).
        while data.len() < 2 * MB as usize + 200_000 {
            let word = format!("{name}-{i:07}-");
            let n = len.unwrap_or_else(|| rng.gen_range(20..3000));
            let pad = "x".repeat(n.saturating_sub(word.len() + 1));
            let line = format!("{word}{pad}\n");
            expected.insert(line.trim_end().to_string(), 1u64);
            data.push_str(&line);
            i += 1;
        }
        env.write(&format!("/lines/{name}"), data.as_bytes())
            .await?;
    }
    // More reducers than the launcher has slots, started before the maps.
    let report = env
        .run(
            "wordcount",
            &["/lines/*", "/out"],
            &[
                (NUM_REDUCES, "6"),
                ("mapreduce.job.reduce.slowstart.completedmaps", "0"),
            ],
        )
        .await?;
    ensure!(report.succeeded, "job failed: {}", report.diagnostics);
    ensure!(
        report.maps == 9,
        "three blocks per file, got {} maps",
        report.maps
    );
    let got = env.word_counts("/out").await?;
    ensure!(
        got.len() == expected.len(),
        "{} lines, expected {}",
        got.len(),
        expected.len()
    );
    ensure!(got == expected, "some line was lost or read twice");
    ensure!(
        report.counters.get(c::TASK_GROUP, c::MAP_INPUT_RECORDS) == expected.len() as i64,
        "MAP_INPUT_RECORDS"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terasort_output_is_validated_by_teravalidate() -> Result<()> {
    let env = env().await?;
    let rows = 40_000u64; // 4 MB
    let gen = env
        .run(
            "teragen",
            &[&rows.to_string(), "/tera/in"],
            &[("mapreduce.job.maps", "3")],
        )
        .await?;
    ensure!(gen.succeeded, "teragen failed: {}", gen.diagnostics);
    env.assert_committed("/tera/in").await?;
    let names: Vec<String> = env
        .client
        .list("/tera/in")
        .await?
        .into_iter()
        .map(|f| f.name)
        .collect();
    ensure!(
        names.iter().filter(|n| n.starts_with("part-m-")).count() == 3,
        "three part-m files: {names:?}"
    );
    let input: usize = env.parts("/tera/in").await?.iter().map(|p| p.len()).sum();
    ensure!(input == rows as usize * 100, "teragen wrote {input} bytes");

    let sort = env
        .run(
            "terasort",
            &["/tera/in", "/tera/out"],
            &[(NUM_REDUCES, "3")],
        )
        .await?;
    ensure!(sort.succeeded, "terasort failed: {}", sort.diagnostics);
    env.assert_committed("/tera/out").await?;
    let parts = env.parts("/tera/out").await?;
    ensure!(parts.len() == 3, "three parts");
    ensure!(
        parts.iter().all(|p| !p.is_empty()),
        "sampling spread keys over all reducers"
    );
    let all: Vec<u8> = parts.concat();
    ensure!(
        all.len() == rows as usize * 100,
        "terasort wrote {} bytes",
        all.len()
    );
    let mut keys: Vec<&[u8]> = all.chunks(100).collect();
    ensure!(
        keys.windows(2).all(|w| w[0][..10] <= w[1][..10]),
        "total order"
    );
    keys.sort();
    keys.dedup();
    ensure!(keys.len() == rows as usize, "every record once");
    // As Hadoop's TeraSort, the output is written at replication 1.
    let st = env.client.status("/tera/out/part-r-00000").await?;
    ensure!(st.replication == 1, "output replication {}", st.replication);

    let val = env
        .run("teravalidate", &["/tera/out", "/tera/report"], &[])
        .await?;
    ensure!(val.succeeded, "teravalidate failed: {}", val.diagnostics);
    let report = String::from_utf8(env.parts("/tera/report").await?.concat())?;
    ensure!(
        !report.contains("error"),
        "teravalidate found errors:\n{report}"
    );
    ensure!(
        report.contains(&format!("records\t{rows}")),
        "report: {report}"
    );

    // teravalidate notices an unsorted input (teragen's output).
    let bad = env
        .run("teravalidate", &["/tera/in", "/tera/report2"], &[])
        .await?;
    ensure!(bad.succeeded, "teravalidate failed: {}", bad.diagnostics);
    let report = String::from_utf8(env.parts("/tera/report2").await?.concat())?;
    ensure!(
        report.contains("error\tmisorder"),
        "no error on unsorted input:\n{report}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_output_or_missing_input_fails_before_anything_runs() -> Result<()> {
    let env = env().await?;
    env.write("/in/a.txt", b"a b c\n").await?;
    env.write("/existing/keep.txt", b"keep\n").await?;
    let e = env
        .run("wordcount", &["/in", "/existing"], &[])
        .await
        .unwrap_err();
    ensure!(matches!(e, EngineError::OutputExists(_)), "{e}");
    ensure!(e.to_string().contains("/existing"), "{e}");
    let names: Vec<String> = env
        .client
        .list("/existing")
        .await?
        .into_iter()
        .map(|f| f.name)
        .collect();
    ensure!(
        names == vec!["keep.txt".to_string()],
        "output dir changed: {names:?}"
    );

    let e = env
        .run("wordcount", &["/nope", "/out"], &[])
        .await
        .unwrap_err();
    ensure!(e.to_string().contains("/nope"), "{e}");
    let e = env
        .run("wordcount", &["/in/*.csv", "/out"], &[])
        .await
        .unwrap_err();
    ensure!(e.to_string().contains("*.csv"), "{e}");
    ensure!(
        !env.client.exists("/out").await?,
        "nothing written for a missing input"
    );
    Ok(())
}

/// wordcount whose map attempts fail (error or panic, alternately) while
/// their number is below `fail_attempts`, and whose reduce 0 fails its
/// first attempt likewise.
struct Flaky {
    fail_attempts: u32,
}

struct FlakyMapper {
    fail: bool,
    seen: u64,
}

impl Mapper for FlakyMapper {
    fn map(&mut self, key: &[u8], value: &[u8], ctx: &mut dyn Context) -> EngineResult<()> {
        self.seen += 1;
        if self.fail && self.seen == 10 {
            if ctx.attempt_number() % 2 == 1 {
                panic!("flaky mapper panics on record 10");
            }
            return Err(EngineError::task("flaky mapper fails on record 10"));
        }
        WordMapper.map(key, value, ctx)
    }
}

impl Job for Flaky {
    fn name(&self) -> &str {
        if self.fail_attempts >= 100 {
            "always-failing"
        } else {
            "flaky"
        }
    }
    fn mapper(&self, _conf: &JobConf) -> EngineResult<Box<dyn Mapper>> {
        Ok(self.deciding_mapper())
    }
    fn reducer(&self, _conf: &JobConf) -> EngineResult<Box<dyn Reducer>> {
        Ok(Box::new(FlakyReducer {
            fail: self.fail_attempts < 100,
            started: false,
        }))
    }
    fn combiner(&self, _conf: &JobConf) -> EngineResult<Option<Box<dyn Reducer>>> {
        Ok(Some(Box::new(SumReducer)))
    }
}

/// The mapper learns its attempt in `setup`.
impl FlakyMapper {
    fn decide(&mut self, ctx: &dyn Context, fail_attempts: u32) {
        self.fail = ctx.attempt_number() < fail_attempts;
    }
}

struct FlakyReducer {
    fail: bool,
    started: bool,
}

impl Reducer for FlakyReducer {
    fn reduce(
        &mut self,
        key: &[u8],
        values: &mut dyn Values,
        ctx: &mut dyn Context,
    ) -> EngineResult<()> {
        if !self.started {
            self.started = true;
            if self.fail && ctx.attempt_number() == 0 && ctx.attempt_id().contains("_r_000000_") {
                return Err(EngineError::task("flaky reducer fails its first attempt"));
            }
        }
        SumReducer.reduce(key, values, ctx)
    }
}

/// Wraps a mapper so it decides to fail from its attempt number.
struct Deciding {
    inner: FlakyMapper,
    fail_attempts: u32,
}

impl Mapper for Deciding {
    fn setup(&mut self, ctx: &mut dyn Context) -> EngineResult<()> {
        self.inner.decide(ctx, self.fail_attempts);
        Ok(())
    }
    fn map(&mut self, key: &[u8], value: &[u8], ctx: &mut dyn Context) -> EngineResult<()> {
        self.inner.map(key, value, ctx)
    }
}

impl Flaky {
    fn deciding_mapper(&self) -> Box<dyn Mapper> {
        Box::new(Deciding {
            inner: FlakyMapper {
                fail: false,
                seen: 0,
            },
            fail_attempts: self.fail_attempts,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_attempts_are_retried_and_the_output_is_identical() -> Result<()> {
    let env = env().await?;
    let t = text(4, 12_000);
    env.write("/in/t.txt", t.as_bytes()).await?;
    let good = env
        .run("wordcount", &["/in", "/good"], &[(NUM_REDUCES, "2")])
        .await?;
    ensure!(good.succeeded, "{}", good.diagnostics);
    let flaky = env
        .run("flaky", &["/in", "/flaky"], &[(NUM_REDUCES, "2")])
        .await?;
    ensure!(flaky.succeeded, "flaky job failed: {}", flaky.diagnostics);
    env.assert_committed("/flaky").await?;
    ensure!(
        env.parts("/flaky").await? == env.parts("/good").await?,
        "outputs differ"
    );
    let k = &flaky.counters;
    let maps = flaky.maps as i64;
    ensure!(
        k.get(c::JOB_GROUP, c::NUM_FAILED_MAPS) == 2 * maps,
        "two failures per map"
    );
    ensure!(
        k.get(c::JOB_GROUP, c::TOTAL_LAUNCHED_MAPS) == 3 * maps,
        "three attempts per map"
    );
    ensure!(
        k.get(c::JOB_GROUP, c::NUM_FAILED_REDUCES) == 1,
        "one failed reduce"
    );
    ensure!(
        k.get(c::TASK_GROUP, c::MAP_INPUT_RECORDS)
            == good.counters.get(c::TASK_GROUP, c::MAP_INPUT_RECORDS),
        "counters count successful attempts only"
    );
    // Each retry avoided the hosts its task failed on.
    let mut hosts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in flaky.attempts.iter().filter(|a| a.attempt.contains("_m_")) {
        let task = a.attempt.rsplit_once('_').map(|x| x.0).unwrap_or_default();
        hosts
            .entry(task.to_string())
            .or_default()
            .push(a.host.clone());
    }
    for (task, mut hs) in hosts {
        ensure!(hs.len() == 3, "{task}: {hs:?}");
        hs.sort();
        hs.dedup();
        ensure!(hs.len() == 3, "{task} ran twice on one host");
    }
    let panics = flaky
        .attempts
        .iter()
        .filter(|a| a.diagnostics.contains("panicked"))
        .count();
    ensure!(
        panics as i64 == maps,
        "the second attempts panicked: {:?}",
        flaky.attempts
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapper_that_always_fails_fails_the_job_with_a_diagnostic() -> Result<()> {
    let env = env().await?;
    env.write("/in/t.txt", text(5, 2_000).as_bytes()).await?;
    let r = env.run("always-failing", &["/in", "/out"], &[]).await?;
    ensure!(!r.succeeded, "the job succeeded");
    let d = &r.diagnostics;
    ensure!(
        d.contains("Task task_") && d.contains("_m_000000"),
        "names the task: {d}"
    );
    ensure!(d.contains("failed 4 times"), "names the attempts: {d}");
    ensure!(d.contains(" on "), "names the host: {d}");
    ensure!(d.contains("record 10"), "names the cause: {d}");
    ensure!(r.clone().into_result().is_err(), "into_result");
    if env.client.exists("/out").await? {
        let names: Vec<String> = env
            .client
            .list("/out")
            .await?
            .into_iter()
            .map(|f| f.name)
            .collect();
        ensure!(names.is_empty(), "output left behind: {names:?}");
    }
    Ok(())
}

/// A launcher that reports a dead shuffle address for the first attempt
/// of map 0, as if its node had been lost after the map finished.
struct LosingLauncher {
    inner: LocalLauncher,
    lost: AtomicBool,
}

impl TaskLauncher for LosingLauncher {
    fn launch(
        &self,
        req: LaunchRequest,
        umb: Arc<dyn Umbilical>,
    ) -> BoxFuture<'static, TaskCompletion> {
        let first_map0 = req.spec.attempt.task_type == TaskType::Map
            && req.spec.attempt.task == 0
            && !self.lost.swap(true, Ordering::SeqCst);
        let fut = self.inner.launch(req, umb);
        Box::pin(async move {
            let mut done = fut.await;
            if first_map0 {
                // Nothing listens on port 1.
                done.shuffle_addr = "127.0.0.1:1".into();
            }
            done
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_whose_output_cannot_be_fetched_runs_again() -> Result<()> {
    let env = env().await?;
    let t = text(6, 15_000);
    env.write("/in/t.txt", t.as_bytes()).await?;
    let launcher = Arc::new(LosingLauncher {
        inner: env.launcher.clone(),
        lost: AtomicBool::new(false),
    });
    let r = env
        .run_with(
            "wordcount",
            &["/in", "/out"],
            &[
                (NUM_REDUCES, "2"),
                ("tusk.reduce.shuffle.fetch.retries", "1"),
            ],
            launcher,
        )
        .await?;
    ensure!(r.succeeded, "job failed: {}", r.diagnostics);
    ensure!(
        env.word_counts("/out").await? == reference_count(&[&t]),
        "counts differ"
    );
    let k = &r.counters;
    ensure!(
        k.get(c::JOB_GROUP, c::NUM_FAILED_MAPS) == 1,
        "the lost map counts as failed"
    );
    ensure!(
        k.get(c::JOB_GROUP, c::TOTAL_LAUNCHED_MAPS) == r.maps as i64 + 1,
        "the lost map ran twice"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grep_and_sort_match_single_process_results() -> Result<()> {
    let env = env().await?;
    let t = text(7, 20_000);
    env.write("/in/t.txt", t.as_bytes()).await?;
    let r = env
        .run("grep", &["/in", "/grep", "w1[0-9]x([0-9]+)", "1"], &[])
        .await?;
    ensure!(r.succeeded, "grep failed: {}", r.diagnostics);
    // Words are `w<i>x<j>`: the regex matches those with 10 <= i <= 19,
    // and group 1 is j.
    let mut want = BTreeMap::new();
    for w in t.split_ascii_whitespace() {
        let (i, j) = w[1..].split_once('x').context("w<i>x<j>")?;
        if (10..=19).contains(&i.parse::<u32>()?) {
            *want.entry(j.to_string()).or_insert(0u64) += 1;
        }
    }
    ensure!(!want.is_empty(), "the input has matches");
    ensure!(
        env.word_counts("/grep").await? == want,
        "grep counts differ"
    );

    let r = env.run("sort", &["/in", "/sorted"], &[]).await?;
    ensure!(r.succeeded, "sort failed: {}", r.diagnostics);
    let got = String::from_utf8(env.parts("/sorted").await?.concat())?;
    let mut lines: Vec<&str> = t.lines().collect();
    lines.sort();
    let want: String = lines.iter().map(|l| format!("{l}\n")).collect();
    ensure!(got == want, "sorted output differs");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_attempt_of_a_task_commits() -> Result<()> {
    use tusk_mapreduce::engine::committer::Committer;
    let env = env().await?;
    let cm = Committer::new(env.client.clone(), "/out", 1);
    cm.setup_job().await?;
    for a in ["attempt_x_r_000000_0", "attempt_x_r_000000_1"] {
        env.write(
            &format!("{}/part-r-00000", cm.attempt_path(a)),
            a.as_bytes(),
        )
        .await?;
    }
    ensure!(
        cm.commit_task("task_x_r_000000", "attempt_x_r_000000_1")
            .await?,
        "first commit"
    );
    ensure!(
        !cm.commit_task("task_x_r_000000", "attempt_x_r_000000_0")
            .await?,
        "second attempt must not commit"
    );
    ensure!(
        !env.client
            .exists(&cm.attempt_path("attempt_x_r_000000_0"))
            .await?,
        "the losing attempt's files are removed"
    );
    cm.commit_job().await?;
    env.assert_committed("/out").await?;
    let data = env.client.read_file("/out/part-r-00000").await?;
    ensure!(
        data == b"attempt_x_r_000000_1",
        "the committed attempt's output"
    );
    Ok(())
}

/// Records when attempts start and end.
struct RecordingLauncher {
    inner: LocalLauncher,
    log: Arc<launch_log::Log>,
}

mod launch_log {
    use std::sync::Mutex;
    /// (event, task type letter, task) in order.
    #[derive(Default)]
    pub struct Log(pub Mutex<Vec<(&'static str, char, u32)>>);
}

impl TaskLauncher for RecordingLauncher {
    fn launch(
        &self,
        req: LaunchRequest,
        umb: Arc<dyn Umbilical>,
    ) -> BoxFuture<'static, TaskCompletion> {
        let a = req.spec.attempt.clone();
        let t = a.task_type.letter();
        self.log.0.lock().unwrap().push(("start", t, a.task));
        let log = self.log.clone();
        let fut = self.inner.launch(req, umb);
        Box::pin(async move {
            let done = fut.await;
            log.0.lock().unwrap().push(("end", t, a.task));
            done
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reducers_start_after_the_slowstart_share_of_maps() -> Result<()> {
    let env = env().await?;
    env.write("/in/t.txt", text(8, 30_000).as_bytes()).await?;
    for (slowstart, out) in [("1.0", "/all"), ("0.5", "/half")] {
        let log = Arc::new(launch_log::Log::default());
        let launcher = Arc::new(RecordingLauncher {
            inner: env.launcher.clone(),
            log: log.clone(),
        });
        let r = env
            .run_with(
                "wordcount",
                &["/in", out],
                &[
                    (NUM_REDUCES, "2"),
                    ("mapreduce.job.reduce.slowstart.completedmaps", slowstart),
                ],
                launcher,
            )
            .await?;
        ensure!(r.succeeded, "{}", r.diagnostics);
        let events = log.0.lock().unwrap().clone();
        let first_reduce = events
            .iter()
            .position(|e| e.0 == "start" && e.1 == 'r')
            .context("a reduce started")?;
        let maps_done_before = events[..first_reduce]
            .iter()
            .filter(|e| e.0 == "end" && e.1 == 'm')
            .count();
        let need = (slowstart.parse::<f64>()? * r.maps as f64).ceil() as usize;
        ensure!(
            maps_done_before >= need,
            "slowstart {slowstart}: reduce started after {maps_done_before} of {} maps",
            r.maps
        );
    }
    Ok(())
}

/// Throughput probe, not a timed test: `cargo test --release -p tusk-tests
/// --test mr_engine -- --ignored --nocapture wordcount_throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn wordcount_throughput() -> Result<()> {
    tusk_tests::init_logging();
    let mb: usize = std::env::var("TUSK_MR_PROBE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let cluster = MiniCluster::builder()
        .datanodes(3)
        .block_size(32 * MB)
        .build()
        .await?;
    let client = cluster.client().await?;
    // TUSK_MR_PROBE_FILE: a local file (e.g. `scripts/gen-logs` output) to
    // count instead of generated text.
    let chunk = match std::env::var("TUSK_MR_PROBE_FILE") {
        Ok(p) => std::fs::read_to_string(&p)?,
        Err(_) => text(9, 100_000),
    };
    let mut w = client
        .create("/probe/in.txt", CreateOptions::default())
        .await?;
    let mut written = 0;
    while written < mb << 20 {
        w.write_all(chunk.as_bytes()).await?;
        written += chunk.len();
    }
    w.close().await?;
    let dir = tempfile::tempdir()?;
    let slots = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let launcher =
        LocalLauncher::for_cluster(client.clone(), JobRegistry::builtin(), dir.path(), slots)
            .await?;
    let job = JobRegistry::builtin().get("wordcount").expect("wordcount");
    let mut conf = JobConf::new();
    let paths = job.configure(&["/probe".to_string(), "/probe-out".to_string()], &mut conf)?;
    let t0 = std::time::Instant::now();
    let r = run_job(
        &client,
        job,
        conf,
        &paths,
        Arc::new(launcher),
        JobOptions::new(),
    )
    .await?;
    let secs = t0.elapsed().as_secs_f64();
    ensure!(r.succeeded, "{}", r.diagnostics);
    println!(
        "wordcount of {} MiB: {secs:.2} s, {:.1} MiB/s, {} maps",
        written >> 20,
        (written >> 20) as f64 / secs,
        r.maps
    );
    Ok(())
}
