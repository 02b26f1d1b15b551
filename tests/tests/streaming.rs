//! Hadoop Streaming and the `hadoop` command on a real multi-process
//! cluster (`scripts/local-cluster.sh`): python3 mapper, combiner and
//! reducer scripts (tests/data/streaming/) for a word count, the top-N of
//! a field and a join of two inputs, each compared with the same pipeline
//! run locally (`cat input | mapper | LC_ALL=C sort | reducer`); the task
//! environment, `-cmdenv`, `-files`/`-archives`, `reporter:` counters;
//! commands that are missing, not executable or stop reading; bytes that
//! are not UTF-8 and 10 MiB lines; `hadoop version`, `hadoop fs` with
//! Hadoop's flags and URIs, `hadoop jar` and its exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

use anyhow::{ensure, Context, Result};
use tusk_client::{CreateOptions, DfsClient};
use tusk_tests::{names, put, LocalCluster};

/// Small blocks so a few MB make several map tasks.
const CONFIG: &str = r#"
[cluster]
replication = 2
block_size = "1MiB"
heartbeat_interval = "1s"
dead_after = "5s"
"#;

fn data_dir() -> PathBuf {
    LocalCluster::repo().join("tests/data/streaming")
}

fn script(name: &str) -> String {
    data_dir().join(name).to_string_lossy().into_owned()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `bin ARGS` (`mapred` or `hadoop`) against the cluster.
fn run(c: &LocalCluster, bin: &str, args: &[&str]) -> Output {
    c.tool(bin, args)
}

fn run_ok(c: &LocalCluster, bin: &str, args: &[&str]) -> Result<Output> {
    c.tool_ok(bin, args)
}

/// Every `part-*` file of `dir`, concatenated in name order.
async fn output(client: &DfsClient, dir: &str) -> Result<Vec<u8>> {
    let mut all = Vec::new();
    for n in names(client, dir).await? {
        if n.starts_with("part-") {
            all.extend(client.read_file(&format!("{dir}/{n}")).await?);
        }
    }
    Ok(all)
}

/// The lines of `b`, sorted (reducers' order across part files differs).
fn sorted_lines(b: &[u8]) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = b
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.to_vec())
        .collect();
    v.sort();
    v
}

/// Runs `sh -c PIPELINE` in the scripts' directory and returns its stdout.
fn local(pipeline: &str) -> Result<Vec<u8>> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("set -e; {pipeline}"))
        .current_dir(data_dir())
        .output()?;
    ensure!(
        out.status.success(),
        "local pipeline {pipeline:?} failed: {}",
        text(&out.stderr)
    );
    Ok(out.stdout)
}

/// Deterministic users and orders for the join: orders of unknown users
/// too.
fn join_inputs() -> (String, String) {
    let mut users = String::new();
    for u in 0..300 {
        users.push_str(&format!("u{u:04}\tname-{u}\n"));
    }
    let mut orders = String::new();
    let mut x: u64 = 12345;
    for o in 0..20_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let uid = (x >> 33) % 330; // 10% of orders have no user
        orders.push_str(&format!("o{o:06}\tu{uid:04}\t{}\n", (x >> 20) % 10_000));
    }
    (users, orders)
}

fn counter(stderr: &str, name: &str) -> Option<i64> {
    stderr.lines().find_map(|l| {
        l.trim()
            .strip_prefix(&format!("{name}="))
            .and_then(|v| v.parse().ok())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_jobs_match_the_local_pipeline() -> Result<()> {
    let c = LocalCluster::start(3, Some(CONFIG))?;
    let client = c.client().await?;
    let tmp = tempfile::tempdir()?;

    // Word count of ~3 MB of access logs (4 maps), combiner, 2 reducers;
    // the scripts shipped with -files and run by name (exec bits kept).
    let logs = Command::new(LocalCluster::repo().join("scripts/gen-logs"))
        .args(["25000", "5"])
        .output()?
        .stdout;
    ensure!(logs.len() > 3 << 20, "gen-logs gave {} bytes", logs.len());
    let logs_path = tmp.path().join("logs.txt");
    std::fs::write(&logs_path, &logs)?;
    put(&client, "/in/logs/access.log", &logs).await?;
    let files = format!("{},{}", script("wc_mapper.py"), script("wc_reducer.py"));
    let out = run_ok(
        &c,
        "mapred",
        &[
            "streaming",
            "-D",
            "mapreduce.job.reduces=2",
            "-files",
            &files,
            "-input",
            "/in/logs",
            "-output",
            "/out/wc",
            "-mapper",
            "wc_mapper.py",
            "-combiner",
            "wc_reducer.py",
            "-reducer",
            "wc_reducer.py",
        ],
    )?;
    let err = text(&out.stderr);
    assert_eq!(
        names(&client, "/out/wc").await?,
        vec!["_SUCCESS", "part-00000", "part-00001"]
    );
    let expected = local(&format!(
        "cat {} | python3 wc_mapper.py 2>/dev/null | LC_ALL=C sort | python3 wc_reducer.py",
        logs_path.display()
    ))?;
    assert_eq!(
        sorted_lines(&output(&client, "/out/wc").await?),
        sorted_lines(&expected),
        "word counts differ from the local pipeline"
    );
    // reporter:counter from every map, and the combiner ran.
    assert_eq!(counter(&err, "Lines"), Some(25_000), "{err}");
    let combine_in = counter(&err, "COMBINE_INPUT_RECORDS").context("no combiner counters")?;
    let combine_out = counter(&err, "COMBINE_OUTPUT_RECORDS").context("no combiner counters")?;
    ensure!(
        combine_out < combine_in / 3,
        "the combiner did not combine: {err}"
    );

    // Top-N of a field through `hadoop jar`, the reducer's N from -cmdenv.
    let out = run_ok(
        &c,
        "hadoop",
        &[
            "jar",
            "/opt/hadoop/share/hadoop/tools/lib/hadoop-streaming-3.3.6.jar",
            "-D",
            "mapreduce.job.name=top urls",
            "-input",
            &format!("hdfs://{}/in/logs/access.log", c.nn_addr()),
            "-output",
            "/out/top",
            "-mapper",
            &format!("python3 {}", script("url_mapper.py")),
            "-reducer",
            &format!("python3 {}", script("topn_reducer.py")),
            "-numReduceTasks",
            "1",
            "-cmdenv",
            "TOP_N=7",
        ],
    )?;
    let err = text(&out.stderr);
    ensure!(err.contains("completed successfully"), "{err}");
    let expected = local(&format!(
        "cat {} | python3 url_mapper.py 2>/dev/null | LC_ALL=C sort | TOP_N=7 python3 topn_reducer.py",
        logs_path.display()
    ))?;
    let got = client.read_file("/out/top/part-00000").await?;
    assert_eq!(text(&got), text(&expected));
    assert_eq!(got.iter().filter(|&&b| b == b'\n').count(), 7);

    // A join of two inputs by key: two key fields (uid, tag), partitioned
    // on the first only, three reducers.
    let (users, orders) = join_inputs();
    put(&client, "/in/join/users.tsv", users.as_bytes()).await?;
    put(&client, "/in/join/orders.tsv", orders.as_bytes()).await?;
    std::fs::write(tmp.path().join("users.tsv"), &users)?;
    std::fs::write(tmp.path().join("orders.tsv"), &orders)?;
    run_ok(
        &c,
        "mapred",
        &[
            "streaming",
            "-D",
            "stream.num.map.output.key.fields=2",
            "-D",
            "mapreduce.partition.keypartitioner.options=-k1,1",
            "-input",
            "/in/join/users.tsv",
            "-input",
            "/in/join/orders.tsv",
            "-output",
            "/out/join",
            "-mapper",
            &format!("python3 {}", script("join_mapper.py")),
            "-reducer",
            &format!("python3 {}", script("join_reducer.py")),
            "-partitioner",
            "org.apache.hadoop.mapred.lib.KeyFieldBasedPartitioner",
            "-numReduceTasks",
            "3",
        ],
    )?;
    let t = tmp.path().display();
    let expected = local(&format!(
        "{{ mapreduce_map_input_file={t}/users.tsv python3 join_mapper.py < {t}/users.tsv; \
           mapreduce_map_input_file={t}/orders.tsv python3 join_mapper.py < {t}/orders.tsv; }} \
         | LC_ALL=C sort | python3 join_reducer.py"
    ))?;
    let got = output(&client, "/out/join").await?;
    assert_eq!(sorted_lines(&got), sorted_lines(&expected));
    ensure!(sorted_lines(&got).len() > 15_000, "join lost rows");

    // The task environment: Hadoop's variables, -cmdenv, -D settings;
    // map-only (-reducer NONE) output is part-NNNNN, one per map.
    let env_in: String = (0..150_000).map(|i| format!("line {i}\n")).collect();
    put(&client, "/in/env/lines.txt", env_in.as_bytes()).await?;
    run_ok(
        &c,
        "mapred",
        &[
            "streaming",
            "-D",
            "my.setting=forty-two",
            "-input",
            "/in/env",
            "-output",
            "/out/env",
            "-mapper",
            &format!("python3 {}", script("env_mapper.py")),
            "-reducer",
            "NONE",
            "-cmdenv",
            "GREETING=hello world",
        ],
    )?;
    let parts: Vec<String> = names(&client, "/out/env")
        .await?
        .into_iter()
        .filter(|n| n.starts_with("part-"))
        .collect();
    ensure!(parts.len() >= 2, "one map only: {parts:?}");
    let mut lines_seen = 0;
    let mut next_start = 0;
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p, &format!("part-{i:05}"));
        let line = text(&client.read_file(&format!("/out/env/{p}")).await?);
        let f: Vec<&str> = line.trim_end().split('\t').collect();
        assert_eq!(f.len(), 10, "{line:?}");
        lines_seen += f[0].parse::<usize>()?;
        assert_eq!(f[1], "/in/env/lines.txt");
        assert_eq!(f[2].parse::<u64>()?, next_start, "{line:?}");
        next_start += f[3].parse::<u64>()?;
        ensure!(
            f[4].starts_with("task_") && f[4].ends_with(&format!("_m_{i:06}")),
            "{line:?}"
        );
        ensure!(
            f[5].starts_with("attempt_") && f[5].contains(&format!("_m_{i:06}_")),
            "{line:?}"
        );
        assert_eq!(f[6], i.to_string());
        ensure!(f[7].starts_with("job_"), "{line:?}");
        assert_eq!(f[8], "hello world");
        assert_eq!(f[9], "forty-two");
    }
    assert_eq!(lines_seen, 150_000);
    assert_eq!(next_start, env_in.len() as u64);

    // -archives: a tar.gz unpacked in the working directory; the mapper
    // finds its stop words there through -cmdenv, counts what it drops.
    let arch = tmp.path().join("arch");
    std::fs::create_dir_all(&arch)?;
    std::fs::write(arch.join("stop.txt"), "\"GET\n\"POST\n-\n")?;
    let tgz = tmp.path().join("stop.tgz");
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(&arch)
        .arg("stop.txt")
        .status()?;
    ensure!(st.success(), "tar failed");
    let out = run_ok(
        &c,
        "hadoop",
        &[
            "jar",
            "hadoop-streaming.jar",
            "-archives",
            &format!("{}#dict", tgz.display()),
            "-files",
            &script("stop_mapper.py"),
            "-input",
            "/in/logs",
            "-output",
            "/out/stop",
            "-mapper",
            "stop_mapper.py",
            "-reducer",
            &format!("python3 {}", script("wc_reducer.py")),
            "-cmdenv",
            "STOP_FILE=dict/stop.txt",
        ],
    )?;
    let err = text(&out.stderr);
    let dropped = counter(&err, "Dropped").context(err.clone())?;
    ensure!(dropped > 20_000, "{err}");
    let got = text(&output(&client, "/out/stop").await?);
    ensure!(
        !got.lines()
            .any(|l| l.starts_with("\"GET\t") || l.starts_with("-\t")),
        "stop words counted"
    );
    ensure!(got.lines().any(|l| l.starts_with("/login\t")), "{got}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_commands_fail_and_bytes_pass_through() -> Result<()> {
    let c = LocalCluster::start(2, Some(CONFIG))?;
    let client = c.client().await?;
    let tmp = tempfile::tempdir()?;
    let words: String = (0..40_000)
        .map(|i| format!("word{} other\n", i % 97))
        .collect();
    put(&client, "/in/words.txt", words.as_bytes()).await?;

    let failing = |name: &str, extra: &[&str]| -> Result<String> {
        let out_dir = format!("/out/{name}");
        let mut args = vec![
            "streaming",
            "-D",
            "mapreduce.map.maxattempts=2",
            "-input",
            "/in/words.txt",
            "-output",
            &out_dir,
        ];
        args.extend_from_slice(extra);
        let out = run(&c, "mapred", &args);
        let err = text(&out.stderr);
        ensure!(
            out.status.code() == Some(1),
            "{name}: {:?}\n{err}",
            out.status
        );
        ensure!(err.contains("failed 2 times"), "{name}: {err}");
        Ok(err)
    };
    // A command that does not exist.
    let err = failing("missing", &["-mapper", "no-such-mapper-xyz --flag"])?;
    ensure!(
        err.contains("no-such-mapper-xyz") && err.contains("command not found"),
        "{err}"
    );
    // A shipped script without exec bits.
    let noexec = tmp.path().join("noexec.py");
    std::fs::copy(data_dir().join("wc_mapper.py"), &noexec)?;
    std::fs::set_permissions(&noexec, std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    let noexec = noexec.to_string_lossy().into_owned();
    let err = failing(
        "noexec",
        &[
            "-file",
            &noexec,
            "-mapper",
            "./noexec.py",
            "-reducer",
            "cat",
        ],
    )?;
    ensure!(err.contains("not executable"), "{err}");
    // A mapper that stops reading (600 KB per split): a broken pipe.
    let err = failing("head", &["-mapper", "head -n 1"])?;
    ensure!(err.contains("broken pipe"), "{err}");
    // A mapper that exits non-zero: its stderr is in the diagnostic.
    let err = failing(
        "exit3",
        &[
            "-mapper",
            "python3 -c 'import sys; sys.stderr.write(\"bad record 17\\n\"); sys.exit(3)'",
        ],
    )?;
    ensure!(
        err.contains("exit status 3") && err.contains("bad record 17"),
        "{err}"
    );
    for name in ["missing", "noexec", "head", "exit3"] {
        let dir = format!("/out/{name}");
        ensure!(
            !client.exists(&dir).await?
                || !names(&client, &dir)
                    .await?
                    .iter()
                    .any(|n| n.starts_with("part-")),
            "{dir}: a failed job left output"
        );
    }

    // Bytes that are not UTF-8 (every byte but \n and \r), tabs inside
    // lines, and a 10 MiB line across blocks, through a map-only job and
    // through the shuffle, unchanged.
    let mut data = Vec::new();
    let mut x: u64 = 99;
    for i in 0..3000 {
        let len = if i == 1500 { 10 << 20 } else { 1 + (i % 300) };
        for j in 0..len {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut b = (x >> 56) as u8;
            if b == b'\n' || b == b'\r' || (j + 1 == len && b == b'\t') {
                b = 0xff;
            }
            data.push(b);
        }
        data.push(b'\n');
    }
    // 4 MiB blocks: three splits, the long line crossing two boundaries.
    let mut w = client
        .create(
            "/in/bytes.bin",
            CreateOptions::default()
                .with_create_parent(true)
                .with_block_size(4 << 20),
        )
        .await?;
    w.write_all(&data).await?;
    w.close().await?;
    run_ok(
        &c,
        "mapred",
        &[
            "streaming",
            "-input",
            "/in/bytes.bin",
            "-output",
            "/out/bytes-maponly",
            "-mapper",
            "cat",
            "-reducer",
            "NONE",
        ],
    )?;
    let got = output(&client, "/out/bytes-maponly").await?;
    ensure!(
        got == data,
        "map-only output differs ({} vs {} bytes)",
        got.len(),
        data.len()
    );
    run_ok(
        &c,
        "mapred",
        &[
            "streaming",
            "-input",
            "/in/bytes.bin",
            "-output",
            "/out/bytes-reduced",
            "-mapper",
            "cat",
            "-reducer",
            "cat",
            "-numReduceTasks",
            "2",
        ],
    )?;
    let got = output(&client, "/out/bytes-reduced").await?;
    ensure!(
        sorted_lines(&got) == sorted_lines(&data),
        "reduced output differs ({} vs {} bytes)",
        got.len(),
        data.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hadoop_command_fs_and_jar() -> Result<()> {
    let c = LocalCluster::start(2, Some(CONFIG))?;
    let tmp = tempfile::tempdir()?;
    let uri = |p: &str| format!("hdfs://{}{p}", c.nn_addr());

    let v = text(&run_ok(&c, "hadoop", &["version"])?.stdout);
    ensure!(v.lines().next() == Some("Hadoop 3.3.6"), "{v}");

    // hadoop fs with Hadoop's flags, plain paths and URIs.
    let local_file = tmp.path().join("a.txt");
    std::fs::write(&local_file, "alpha\nbeta\n")?;
    let lf = local_file.to_string_lossy().into_owned();
    run_ok(
        &c,
        "hadoop",
        &["fs", "-mkdir", "-p", &uri("/user/x/dir/sub")],
    )?;
    run_ok(
        &c,
        "hadoop",
        &["fs", "-put", &lf, &uri("/user/x/dir/a.txt")],
    )?;
    run_ok(
        &c,
        "hadoop",
        &[
            "fs",
            "-put",
            &format!("file://{lf}"),
            "/user/x/dir/sub/b.txt",
        ],
    )?;
    let ls = text(&run_ok(&c, "hadoop", &["fs", "-ls", "-R", &uri("/user/x")])?.stdout);
    ensure!(
        ls.contains("/user/x/dir/a.txt") && ls.contains("/user/x/dir/sub/b.txt"),
        "{ls}"
    );
    let cat = run_ok(
        &c,
        "hadoop",
        &["fs", "-cat", "webhdfs://127.0.0.1:1/user/x/dir/a.txt"],
    )?;
    assert_eq!(text(&cat.stdout), "alpha\nbeta\n");
    assert_eq!(
        run(
            &c,
            "hadoop",
            &["fs", "-test", "-e", &uri("/user/x/dir/a.txt")]
        )
        .status
        .code(),
        Some(0)
    );
    assert_eq!(
        run(&c, "hadoop", &["fs", "-test", "-d", "/user/x/dir"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(&c, "hadoop", &["fs", "-test", "-d", "/user/x/dir/a.txt"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        run(&c, "hadoop", &["fs", "-test", "-e", "/user/x/nope"])
            .status
            .code(),
        Some(1)
    );
    let du = text(&run_ok(&c, "hadoop", &["fs", "-du", "/user/x/dir"])?.stdout);
    ensure!(
        du.lines()
            .any(|l| l.starts_with("11 ") && l.ends_with("/user/x/dir/a.txt")),
        "{du}"
    );
    let got = tmp.path().join("got.txt");
    run_ok(
        &c,
        "hadoop",
        &[
            "fs",
            "-get",
            &uri("/user/x/dir/a.txt"),
            &got.to_string_lossy(),
        ],
    )?;
    assert_eq!(std::fs::read_to_string(&got)?, "alpha\nbeta\n");
    run_ok(
        &c,
        "hadoop",
        &["fs", "-rm", "-R", "-f", "-skipTrash", &uri("/user/x/dir")],
    )?;
    assert_eq!(
        run(&c, "hadoop", &["fs", "-test", "-e", "/user/x/dir"])
            .status
            .code(),
        Some(1)
    );
    // -f: a missing path is not an error.
    run_ok(
        &c,
        "hadoop",
        &["fs", "-rm", "-R", "-f", "-skipTrash", "/user/x/dir"],
    )?;
    let out = run(&c, "hadoop", &["fs", "-cat", "/user/x/none.txt"]);
    assert_eq!(out.status.code(), Some(1));
    ensure!(
        text(&out.stderr).contains("/user/x/none.txt"),
        "{}",
        text(&out.stderr)
    );

    // hadoop jar: exit codes as Hadoop's.
    run_ok(&c, "hadoop", &["fs", "-mkdir", "-p", "/in"])?;
    run_ok(&c, "hadoop", &["fs", "-put", &lf, "/in/a.txt"])?;
    let streaming = "/usr/lib/hadoop/hadoop-streaming.jar";
    let job = |out: &str| -> Vec<String> {
        [
            "jar", streaming, "-input", "/in", "-output", out, "-mapper", "cat", "-reducer", "NONE",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let args = job("/out1");
    let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    run_ok(&c, "hadoop", &args)?;
    let out = run(&c, "hadoop", &args);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    ensure!(text(&out.stderr).contains("/out1: Output directory already exists"));
    let out = run(
        &c,
        "hadoop",
        &[
            "jar", streaming, "-input", "/no/such", "-output", "/out2", "-mapper", "cat",
        ],
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    ensure!(text(&out.stderr).contains("/no/such: Input path does not exist"));
    let out = run(
        &c,
        "hadoop",
        &["jar", streaming, "-input", "/in", "-mapper", "cat"],
    );
    assert_eq!(out.status.code(), Some(1));
    ensure!(
        text(&out.stderr).contains("-output"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &c,
        "hadoop",
        &[
            "jar", streaming, "-input", "/in", "-output", "/o3", "-bogus",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    ensure!(
        text(&out.stderr).contains("-bogus"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &c,
        "hadoop",
        &[
            "jar",
            streaming,
            "-input",
            "/in",
            "-output",
            "/o4",
            "-file",
            "/no/such/script.py",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    ensure!(text(&out.stderr).contains("/no/such/script.py: No such file or directory"));
    // Not a streaming jar.
    let out = run(
        &c,
        "hadoop",
        &["jar", "/no/such/wordcount.jar", "in", "out"],
    );
    assert_eq!(out.status.code(), Some(255));
    ensure!(text(&out.stderr).contains("JAR does not exist"));
    let jar = tmp.path().join("hadoop-examples.jar");
    std::fs::write(&jar, b"PK")?;
    let out = run(
        &c,
        "hadoop",
        &["jar", &jar.to_string_lossy(), "wordcount", "/in", "/o5"],
    );
    assert_eq!(out.status.code(), Some(1));
    ensure!(
        text(&out.stderr).contains("only Hadoop Streaming"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&c, "hadoop", &["frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
    Ok(())
}
