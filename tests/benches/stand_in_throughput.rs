//! The stand-in's throughput and memory: `codedeploy-local serve` (release) with the
//! template's functions, and 200 concurrent clients invoking `HelloFunction:live` over HTTP
//! until 100,000 invokes are served (`STAND_IN_INVOKES` for another count). Prints invokes per
//! second, p50 and p99 latency, and the serve process's RSS before and after (memory must stay
//! flat: nothing is kept per invocation).
//!
//! Run with `bash tests/bench-hooks/run.sh`, or after `cargo build --release --workspace --bins`:
//! `cargo bench -p e2e --bench stand_in_throughput`. It runs with 1, 2 and 4 execution
//! environments (`STAND_IN_ENVIRONMENTS=1,2` to choose); `CODEDEPLOY_LOCAL_BIN` runs another
//! build of `codedeploy-local` (e.g. an older one, to compare); the functions stay these.
//!
//! `STAND_IN_IAM=off,enforce` measures the permission checks side by side: each invoke is
//! then signed (SigV4) with the PreTraffic hook's role key (`serve --credentials-file`), which
//! may invoke the alias, and the stand-in runs with `--iam off` (nothing verified or checked)
//! and `--iam enforce` (signature verified, call evaluated). Signing costs the client the same
//! in both.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Invokes per measurement; `STAND_IN_INVOKES` sets another (1000000 for the RSS over a
/// million invokes).
fn total() -> usize {
    std::env::var("STAND_IN_INVOKES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
}
const CONCURRENCY: usize = 200;

fn release_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release")
}

/// Where serve writes the roles' credentials for a signed run.
fn credentials_file() -> PathBuf {
    std::env::temp_dir().join(format!("stand-in-bench-credentials-{}", std::process::id()))
}

fn rss_kb(pid: u32) -> u64 {
    e2e::proc_status_kb(pid, "VmRSS").unwrap_or(0)
}

/// What a run of invokes saw: how many failed, and each one's latency.
struct Run {
    failed: usize,
    latencies: Vec<std::time::Duration>,
}

impl Run {
    fn percentile(&mut self, p: f64) -> std::time::Duration {
        self.latencies.sort_unstable();
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len().max(1)) - 1]
    }
}

/// A role key to sign invokes with, as a function's SDK signs them.
#[derive(Clone)]
struct Signer {
    identity: aws_smithy_runtime_api::client::identity::Identity,
}

impl Signer {
    /// The `[profile]` of an AWS shared credentials file.
    fn from_file(path: &std::path::Path, profile: &str) -> Signer {
        let text = std::fs::read_to_string(path).expect("serve wrote the credentials file");
        let section = text
            .split(&format!("[{profile}]"))
            .nth(1)
            .expect("the profile")
            .split("\n[")
            .next()
            .unwrap_or_default();
        let value = |key: &str| {
            section
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key} = ")))
                .expect("the key")
                .to_owned()
        };
        let credentials = aws_credential_types::Credentials::new(
            value("aws_access_key_id"),
            value("aws_secret_access_key"),
            Some(value("aws_session_token")),
            None,
            "bench",
        );
        Signer {
            identity: credentials.into(),
        }
    }

    fn sign(&self, url: &str, body: &'static str) -> reqwest::Request {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let mut request = http::Request::post(url)
            .body(body.as_bytes().to_vec())
            .expect("a request");
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&self.identity)
            .region("us-east-1")
            .name("lambda")
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .expect("params")
            .into();
        let signable = SignableRequest::new(
            "POST",
            url,
            std::iter::empty(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .expect("signable");
        let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
        instructions.apply_to_request_http1x(&mut request);
        reqwest::Request::try_from(request).expect("a reqwest request")
    }
}

async fn invoke_all(
    client: &reqwest::Client,
    url: &str,
    total: usize,
    signer: Option<&Signer>,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, next) = (client.clone(), url.to_owned(), Arc::clone(&next));
            let signer = signer.cloned();
            tokio::spawn(async move {
                let (mut failed, mut latencies) = (0, Vec::new());
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let sent = Instant::now();
                    const BODY: &str = r#"{"name":"bench"}"#;
                    let sent_request = match &signer {
                        Some(signer) => client.execute(signer.sign(&url, BODY)),
                        None => {
                            client.execute(client.post(&url).body(BODY).build().expect("a request"))
                        }
                    };
                    let ok = match sent_request.await {
                        Ok(r) => {
                            r.status().is_success()
                                && r.headers().get("x-amz-function-error").is_none()
                        }
                        Err(_) => false,
                    };
                    latencies.push(sent.elapsed());
                    failed += usize::from(!ok);
                }
                (failed, latencies)
            })
        })
        .collect();
    let mut run = Run {
        failed: 0,
        latencies: Vec::with_capacity(total),
    };
    for w in workers {
        if let Ok((failed, latencies)) = w.await {
            run.failed += failed;
            run.latencies.extend(latencies);
        }
    }
    run
}

#[tokio::main]
async fn main() {
    // One execution environment (the stand-in's default), one per core, and more: Lambda
    // runs as many as the concurrency needs; here they share the two cores with the client.
    let counts: Vec<usize> = std::env::var("STAND_IN_ENVIRONMENTS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4]);
    let iam: Vec<String> = std::env::var("STAND_IN_IAM")
        .ok()
        .map(|v| v.split(',').map(|m| m.trim().to_owned()).collect())
        .unwrap_or_default();
    for environments in counts {
        if iam.is_empty() {
            measure(environments, None).await;
        }
        for mode in &iam {
            measure(environments, Some(mode)).await;
        }
    }
}

async fn measure(environments: usize, iam: Option<&str>) {
    let bin = release_dir();
    let stand_in = std::env::var_os("CODEDEPLOY_LOCAL_BIN")
        .map_or_else(|| bin.join("codedeploy-local"), PathBuf::from);
    let mut serve = Command::new(stand_in)
        .args(["serve", "--port", "0", "--bin-dir"])
        .arg(&bin)
        .arg("--template")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml"))
        .args(["--log-dir", "target/codedeploy-local/bench-logs"])
        .args(match iam {
            Some(mode) => vec![
                "--iam".to_owned(),
                mode.to_owned(),
                "--credentials-file".to_owned(),
                credentials_file().display().to_string(),
            ],
            None => vec![],
        })
        // Only when asked: builds older than the flag serve one environment.
        .args(if environments == 1 {
            vec![]
        } else {
            vec!["--environments".to_owned(), environments.to_string()]
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("build first: cargo build --release --workspace --bins");
    let mut first = String::new();
    std::io::BufReader::new(serve.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("serve prints its endpoint");
    let endpoint = first
        .trim()
        .trim_start_matches("AWS_ENDPOINT_URL=")
        .to_owned();
    let url = format!("{endpoint}/2015-03-31/functions/HelloFunction/invocations?Qualifier=live");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .expect("client");
    let pid = serve.id();
    let signer =
        iam.map(|_| Signer::from_file(&credentials_file(), "CodeDeployHook_local_pre_traffic"));
    let signer = signer.as_ref();
    invoke_all(&client, &url, 5_000, signer).await; // warm up: processes started, pools filled
    let before = rss_kb(pid);
    let started = Instant::now();
    let total = total();
    let mut run = invoke_all(&client, &url, total, signer).await;
    let elapsed = started.elapsed();
    let after = rss_kb(pid);
    let (p50, p99) = (run.percentile(50.0), run.percentile(99.0));
    println!(
        "stand-in: {total} invokes of HelloFunction:live, {CONCURRENCY} concurrent, {environments} environment(s){}: \
         {:.0} invokes/s ({} failed), p50 {:.2?}, p99 {:.2?}; serve RSS {:.1} MB -> {:.1} MB",
        iam.map(|m| format!(", signed, --iam {m}")).unwrap_or_default(),
        total as f64 / elapsed.as_secs_f64(),
        run.failed,
        p50,
        p99,
        before as f64 / 1024.0,
        after as f64 / 1024.0
    );
    let _ = serve.kill();
    let _ = serve.wait();
}
