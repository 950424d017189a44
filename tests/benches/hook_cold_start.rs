//! A hook's whole run, cold: process start -> status reported, one invoke check, for the
//! same hook written four ways, side by side in one run:
//! - `codedeploy-hooks` (tests/bench-hooks/framework.rs),
//! - the four SDK calls by hand in Rust (tests/bench-hooks/handwritten.rs),
//! - Node.js with the AWS SDK v3, and Python with boto3 (tests/bench-hooks/{node,python}).
//!
//! Each run is a new process under the stand-in's Lambda Runtime API (a cold start), with the
//! target function already warm; memory is the hook process's peak RSS (VmHWM).
//! Run with `bash tests/bench-hooks/run.sh` (it installs the Node and Python SDKs), or
//! `cargo bench -p e2e --bench hook_cold_start` once they are installed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use codedeploy_local::{DeploymentSpec, HookStatus, Options, StandIn, VersionSpec};

const RUNS: usize = 20;

struct Subject {
    name: &'static str,
    bootstrap: PathBuf,
}

fn subjects() -> Vec<Subject> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench-hooks");
    let mut list = vec![
        Subject {
            name: "codedeploy-hooks (Rust)",
            bootstrap: PathBuf::from(env!("CARGO_BIN_EXE_bench-framework-hook")),
        },
        Subject {
            name: "by hand (Rust, AWS SDK)",
            bootstrap: PathBuf::from(env!("CARGO_BIN_EXE_bench-handwritten-hook")),
        },
    ];
    // More builds to compare, e.g. the framework's hook in other profiles:
    // HOOK_BENCH_EXTRA="opt-level s=target/function/bench-framework-hook,opt-level z=...".
    for extra in std::env::var("HOOK_BENCH_EXTRA")
        .unwrap_or_default()
        .split(',')
    {
        if let Some((name, path)) = extra.split_once('=') {
            list.push(Subject {
                name: Box::leak(name.to_owned().into_boxed_str()),
                bootstrap: PathBuf::from(path),
            });
        }
    }
    if here
        .join("node/node_modules/@aws-sdk/client-lambda")
        .is_dir()
    {
        list.push(Subject {
            name: "Node.js (AWS SDK v3)",
            bootstrap: here.join("node/bootstrap"),
        });
    } else {
        eprintln!("skipping Node.js: run `npm ci` in tests/bench-hooks/node (run.sh does)");
    }
    let boto3 = std::process::Command::new("python3")
        .args(["-c", "import boto3"])
        .status();
    if boto3.is_ok_and(|s| s.success()) {
        list.push(Subject {
            name: "Python (boto3)",
            bootstrap: here.join("python/bootstrap"),
        });
    } else {
        eprintln!("skipping Python: pip install boto3 (run.sh does)");
    }
    list
}

/// `hello` built in the same profile as this benchmark.
fn hello() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let hello = dir.join("hello");
    assert!(
        hello.is_file(),
        "{} is missing: cargo build --release -p hello",
        hello.display()
    );
    hello
}

fn peak_rss_kb(pid: u32) -> Option<u64> {
    e2e::proc_status_kb(pid, "VmHWM")
}

async fn one_run(subject: &Subject, hello: &Path) -> (Duration, Option<u64>) {
    let local = StandIn::start(Options::default()).await.expect("stand-in");
    local
        .publish_version("hello", "1", VersionSpec::new(hello))
        .expect("hello");
    local.set_alias("hello", "live", "1").expect("alias");
    // Warm the target, so only the hook is cold.
    local
        .invoke("hello", Some("1"), b"{}".to_vec())
        .await
        .expect("warm-up");
    let hook = VersionSpec::new(&subject.bootstrap).timeout(Duration::from_secs(30));
    local
        .publish_version("CodeDeployHook_bench", "1", hook)
        .expect("hook");
    let deployment = local.create_deployment(
        DeploymentSpec::new("hello", "live", "1", "1")
            .hook("BeforeAllowTraffic", "CodeDeployHook_bench"),
    );
    let (execution, event) = local
        .start_hook_execution(&deployment, "BeforeAllowTraffic")
        .expect("execution");
    let started = Instant::now();
    let result = local
        .invoke(
            "CodeDeployHook_bench",
            Some("1"),
            event.to_string().into_bytes(),
        )
        .await
        .expect("invoke");
    let elapsed = started.elapsed();
    assert_eq!(
        local.hook_status(&deployment, &execution),
        Some(HookStatus::Succeeded),
        "{}: {}\n{}",
        subject.name,
        String::from_utf8_lossy(&result.payload),
        result.log
    );
    let rss = local
        .pids("CodeDeployHook_bench", "1")
        .first()
        .and_then(|pid| peak_rss_kb(*pid));
    (elapsed, rss)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is not supported.
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let hello = hello();
    let mut rows = Vec::new();
    for subject in subjects() {
        let (mut times, mut rss) = (Vec::new(), Vec::new());
        runtime.block_on(one_run(&subject, &hello)); // discard: first-touch of the binary and page cache
        for _ in 0..RUNS {
            let (t, r) = runtime.block_on(one_run(&subject, &hello));
            times.push(t.as_secs_f64() * 1000.0);
            rss.extend(r.map(|kb| kb as f64 / 1024.0));
        }
        let (min, max) = (
            times.iter().copied().fold(f64::MAX, f64::min),
            times.iter().copied().fold(0.0, f64::max),
        );
        rows.push((
            subject.name,
            median(&mut times),
            min,
            max,
            if rss.is_empty() {
                f64::NAN
            } else {
                median(&mut rss)
            },
        ));
    }
    println!("\nhook cold run, process start -> status reported ({RUNS} runs each)\n");
    println!(
        "{:<26} {:>10} {:>10} {:>10} {:>12}",
        "hook", "median ms", "min ms", "max ms", "peak RSS MB"
    );
    for (name, median, min, max, rss) in &rows {
        println!("{name:<26} {median:>10.1} {min:>10.1} {max:>10.1} {rss:>12.1}");
    }
    if let (Some(ours), Some(hand)) = (rows.first(), rows.get(1)) {
        println!(
            "\ncodedeploy-hooks vs by hand: {:+.1} ms (target: within ~2 ms)",
            ours.1 - hand.1
        );
        for other in rows.iter().skip(2) {
            println!(
                "{} / codedeploy-hooks: {:.1}x the time, {:.1}x the memory",
                other.0,
                other.1 / ours.1,
                other.4 / ours.4
            );
        }
    }
}
