//! The stand-in's throughput and memory, side by side with cargo-lambda's emulator.
//!
//! `codedeploy-local serve` (release) with the template's functions, and 64 clients invoking
//! `HelloFunction:live` over HTTP until 100,000 invokes are served (`STAND_IN_INVOKES` for
//! another count, `STAND_IN_CONCURRENCY` for other clients). Prints invokes per second, p50
//! and p99 latency, and the server's RSS before and after (memory must stay flat: nothing is
//! kept per invocation).
//!
//! Run with `bash tests/bench-hooks/run.sh`, or after `cargo build --release --workspace --bins`:
//! `cargo bench -p e2e --bench stand_in_throughput`. It runs with 1, 2 and 4 execution
//! environments (`STAND_IN_ENVIRONMENTS=1,4` to choose); `CODEDEPLOY_LOCAL_BIN` runs another
//! build of `codedeploy-local`, `STAND_IN_BIN_DIR` another build of everything (`serve`, its
//! functions and the `hello` cargo-lambda runs: an older one, to compare).
//! `STAND_IN_ROUNDS=3` repeats the whole, alternating the emulators.
//!
//! **cargo-lambda side by side.** When `cargo-lambda` is on the `PATH` (or `CARGO_LAMBDA`
//! names it), each round first measures its emulator with one environment: `cargo lambda
//! watch --only-lambda-apis`, and the same `hello` release binary started as that mode asks
//! (the four variables it prints), one process as one environment; invoked at
//! `functions/_/invocations`. Both then run the very same binary: `cargo lambda watch
//! --release` would build its own. The round ends with the ratio of the stand-in's rate with
//! one environment to cargo-lambda's. Install it with `pip install cargo-lambda==1.9.2` (or
//! `cargo install cargo-lambda --version 1.9.2 --locked`, about 20 minutes on two cores).
//!
//! The client is as light as `ab -k`: one thread, one keep-alive connection per client,
//! requests one after another on each, so that the two cores are left to what is measured.
//!
//! `STAND_IN_IAM=off,enforce` measures the permission checks side by side: each invoke is
//! then signed (SigV4) with the PreTraffic hook's role key (`serve --credentials-file`), which
//! may invoke the alias, and the stand-in runs with `--iam off` (nothing verified or checked)
//! and `--iam enforce` (signature verified, call evaluated). Signing costs the client the same
//! in both.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// What each invoke sends.
const BODY: &str = r#"{"name":"bench"}"#;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn list(name: &str) -> Option<Vec<String>> {
    let value = std::env::var(name).ok()?;
    Some(value.split(',').map(|m| m.trim().to_owned()).collect())
}

fn release_dir() -> PathBuf {
    std::env::var_os("STAND_IN_BIN_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release"),
        PathBuf::from,
    )
}

/// Where serve writes the roles' credentials for a signed run.
fn credentials_file() -> PathBuf {
    std::env::temp_dir().join(format!("stand-in-bench-credentials-{}", std::process::id()))
}

/// CPU time a process has used (user and system), from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = fields
        .get(11..13)
        .map(|t| t.iter().filter_map(|v| v.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / per_second)
}

fn rss_mb(pid: u32) -> f64 {
    e2e::proc_status_kb(pid, "VmRSS").unwrap_or(0) as f64 / 1024.0
}

/// What a run of invokes saw: how many failed, and each one's latency.
struct Run {
    failed: usize,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Run {
    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len().max(1)) - 1]
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
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

    /// The headers that sign a POST of [`BODY`] to `url`.
    fn headers(&self, url: &str) -> http::HeaderMap {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
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
            SignableBody::Bytes(BODY.as_bytes()),
        )
        .expect("signable");
        let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
        let mut request = http::Request::post(url).body(()).expect("a request");
        instructions.apply_to_request_http1x(&mut request);
        request.into_parts().0.headers
    }
}

/// Where invokes go: the server's address and the invoke's path.
#[derive(Clone)]
struct Target {
    address: SocketAddr,
    path: String,
    signer: Option<Signer>,
}

impl Target {
    /// An invoke as it goes on the wire (HTTP/1.1, kept alive).
    fn request(&self) -> Vec<u8> {
        let mut head = format!(
            "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            self.path,
            self.address,
            BODY.len()
        );
        if let Some(signer) = &self.signer {
            let url = format!("http://{}{}", self.address, self.path);
            for (name, value) in &signer.headers(&url) {
                let value = value.to_str().expect("a signature header is text");
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        head.push_str("\r\n");
        head.push_str(BODY);
        head.into_bytes()
    }
}

/// `total` invokes from `concurrency` clients, each on its own keep-alive connection.
async fn load(target: &Target, total: usize, concurrency: usize) -> Run {
    let left = Rc::new(std::cell::Cell::new(total));
    let started = Instant::now();
    let local = tokio::task::LocalSet::new();
    let clients: Vec<_> = (0..concurrency)
        .map(|_| local.spawn_local(client(target.clone(), Rc::clone(&left))))
        .collect();
    let results = local
        .run_until(async move {
            let mut all = Vec::new();
            for c in clients {
                all.push(c.await.expect("a client"));
            }
            all
        })
        .await;
    let mut run = Run {
        failed: 0,
        latencies: Vec::with_capacity(total),
        elapsed: started.elapsed(),
    };
    for (failed, latencies) in results {
        run.failed += failed;
        run.latencies.extend(latencies);
    }
    run
}

/// One client: invokes one after another on one connection while any are left. HTTP/1.1
/// written and read by hand, as `ab` does: a client library would cost more CPU than the
/// servers under measurement can spare on two cores.
async fn client(target: Target, left: Rc<std::cell::Cell<usize>>) -> (usize, Vec<Duration>) {
    let mut stream = tokio::net::TcpStream::connect(target.address)
        .await
        .expect("the server listens");
    stream.set_nodelay(true).expect("nodelay");
    let unsigned = target.signer.is_none().then(|| target.request());
    let (mut failed, mut latencies, mut buffer) = (0, Vec::new(), Vec::with_capacity(4096));
    while left.get() > 0 {
        left.set(left.get() - 1);
        let sent = Instant::now();
        let request = unsigned.clone().unwrap_or_else(|| target.request());
        let ok = match stream.write_all(&request).await {
            Ok(()) => read_response(&mut stream, &mut buffer)
                .await
                .unwrap_or(false),
            Err(_) => false,
        };
        latencies.push(sent.elapsed());
        failed += usize::from(!ok);
    }
    (failed, latencies)
}

/// Read one response; whether it is a success without a function error.
async fn read_response(
    stream: &mut tokio::net::TcpStream,
    buffer: &mut Vec<u8>,
) -> std::io::Result<bool> {
    let head = read_message(stream, buffer).await?;
    Ok(head.starts_with("http/1.1 2") && header(&head, "x-amz-function-error").is_none())
}

/// A header of a message's head (lowercased).
fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// Read one HTTP/1.1 message, its body included; returns its head, lowercased.
async fn read_message(
    stream: &mut tokio::net::TcpStream,
    buffer: &mut Vec<u8>,
) -> std::io::Result<String> {
    buffer.clear();
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        read_more(stream, buffer).await?;
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    if let Some(length) = header(&head, "content-length").and_then(|l| l.parse::<usize>().ok()) {
        while buffer.len() < head_end + length {
            read_more(stream, buffer).await?;
        }
    } else if header(&head, "transfer-encoding") == Some("chunked") {
        while !buffer[head_end..].ends_with(b"0\r\n\r\n") {
            read_more(stream, buffer).await?;
        }
    }
    Ok(head)
}

/// The `hello` release binary as one execution environment of an emulator's Runtime API,
/// with the variables a Lambda runtime reads.
fn spawn_hello(runtime_api: &str, function_name: &str, memory_mb: &str) -> Child {
    Command::new(release_dir().join("hello"))
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb)
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("build first: cargo build --release --workspace --bins")
}

/// The function's own loop: `hello` against a Runtime API that does nothing else (an event
/// always ready, each answer taken at once), on this thread, with no client. What one
/// environment costs before any emulator work: its Runtime API round trips, each a wake-up
/// of a process; returns invokes per second. Not a ceiling: with clients keeping the
/// cores busy, wake-ups come sooner and an emulator can go faster than this.
async fn hello_loop_alone(total: usize) -> f64 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("its address");
    let mut hello = spawn_hello(&address.to_string(), "hello", "128");
    let (done, finished) = tokio::sync::oneshot::channel();
    let count = Rc::new(std::cell::RefCell::new(Count {
        answered: 0,
        warm_up: 5_000,
        total,
        started: None,
        done: Some(done),
    }));
    let local = tokio::task::LocalSet::new();
    let elapsed = local
        .run_until(async {
            let accept = async {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::task::spawn_local(runtime_api(stream, Rc::clone(&count)));
                }
            };
            tokio::select! {
                elapsed = finished => elapsed.expect("the count ends"),
                () = accept => panic!("the listener failed"),
            }
        })
        .await;
    let _ = hello.kill();
    let _ = hello.wait();
    let rate = total as f64 / elapsed.as_secs_f64();
    println!(
        "hello's loop alone, against a Runtime API that does nothing else (no clients): \
         {rate:.0} invokes/s"
    );
    rate
}

/// The answers a function gave, and the time of the measured ones.
struct Count {
    answered: usize,
    warm_up: usize,
    total: usize,
    started: Option<Instant>,
    done: Option<tokio::sync::oneshot::Sender<Duration>>,
}

impl Count {
    fn answer(&mut self) {
        self.answered += 1;
        if self.answered == self.warm_up {
            self.started = Some(Instant::now());
        }
        if self.answered == self.warm_up + self.total {
            let elapsed = self.started.map(|s| s.elapsed()).unwrap_or_default();
            if let Some(done) = self.done.take() {
                let _ = done.send(elapsed);
            }
        }
    }
}

/// A Runtime API connection that hands out the same event and takes every answer.
async fn runtime_api(mut stream: tokio::net::TcpStream, count: Rc<std::cell::RefCell<Count>>) {
    let _ = stream.set_nodelay(true);
    let deadline = std::time::SystemTime::now() + Duration::from_secs(3600);
    let deadline_ms = deadline
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let event = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
         lambda-runtime-aws-request-id: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\r\n\
         lambda-runtime-deadline-ms: {deadline_ms}\r\n\
         lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:hello\r\n\
         content-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let accepted = "HTTP/1.1 202 Accepted\r\ncontent-length: 16\r\n\r\n{\"status\":\"OK\"}";
    let mut buffer = Vec::with_capacity(4096);
    while let Ok(head) = read_message(&mut stream, &mut buffer).await {
        let reply = if head.starts_with("get ") {
            event.as_str()
        } else {
            count.borrow_mut().answer();
            accepted
        };
        if stream.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn read_more(
    stream: &mut tokio::net::TcpStream,
    buffer: &mut Vec<u8>,
) -> std::io::Result<()> {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await? {
        0 => Err(std::io::ErrorKind::UnexpectedEof.into()),
        n => {
            buffer.extend_from_slice(&chunk[..n]);
            Ok(())
        }
    }
}

/// An emulator under measurement: its processes, killed when dropped.
struct Server {
    name: String,
    target: Target,
    /// The process whose RSS is reported: the server's.
    pid: u32,
    processes: Vec<Child>,
}

impl Server {
    /// The first function process (the server's child, or cargo-lambda's `hello`).
    fn function_pid(&self) -> u32 {
        if let Some(hello) = self.processes.get(1) {
            return hello.id();
        }
        // A child belongs to the thread that started it: look through every thread.
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid));
        tasks
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
            .find_map(|c| c.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for process in self.processes.iter_mut().rev() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

fn stand_in(environments: usize, iam: Option<&str>) -> Server {
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
    let endpoint = first.trim().trim_start_matches("AWS_ENDPOINT_URL=http://");
    let signer =
        iam.map(|_| Signer::from_file(&credentials_file(), "CodeDeployHook_local_pre_traffic"));
    Server {
        name: format!(
            "stand-in, {environments} environment(s){}",
            iam.map(|m| format!(", signed, --iam {m}"))
                .unwrap_or_default()
        ),
        target: Target {
            address: endpoint.parse().expect("serve's address"),
            path: "/2015-03-31/functions/HelloFunction/invocations?Qualifier=live".to_owned(),
            signer,
        },
        pid: serve.id(),
        processes: vec![serve],
    }
}

/// cargo-lambda's binary, when it is installed.
fn cargo_lambda() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CARGO_LAMBDA") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("cargo-lambda"))
        .find(|candidate| candidate.is_file())
}

/// cargo-lambda's emulator with the `hello` release binary as its one environment.
fn cargo_lambda_watch(binary: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let watch = Command::new(binary)
        .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
        .args(["-A", "127.0.0.1", "-P", &port.to_string()])
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cargo-lambda starts");
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let listening = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        std::net::TcpStream::connect(address).is_ok()
    });
    assert!(
        listening,
        "cargo lambda watch did not listen on {address} in 10 s"
    );
    // The four variables `--only-lambda-apis` prints for the function to be started with.
    let hello = spawn_hello(&format!("http://{address}/.rt"), "_", "4096");
    Server {
        name: "cargo-lambda 1 environment".to_owned(),
        target: Target {
            address,
            path: "/2015-03-31/functions/_/invocations".to_owned(),
            signer: None,
        },
        pid: watch.id(),
        processes: vec![watch, hello],
    }
}

/// Measure one server; returns its rate.
async fn measure(server: &Server, total: usize, concurrency: usize) -> f64 {
    // Warm up: processes started, connections open, allocators sized.
    let warm = load(&server.target, 5_000, concurrency).await;
    assert_eq!(
        warm.failed, 0,
        "{}: invokes failed while warming up",
        server.name
    );
    let before = rss_mb(server.pid);
    let pids = [std::process::id(), server.pid, server.function_pid()];
    let cpu_before = pids.map(cpu_time);
    let mut run = load(&server.target, total, concurrency).await;
    let [client, serve, function]: [Duration; 3] = std::array::from_fn(|i| {
        cpu_time(pids[i]).saturating_sub(cpu_before[i]) / total.max(1) as u32
    });
    let after = rss_mb(server.pid);
    let (p50, p99) = (run.percentile(50.0), run.percentile(99.0));
    println!(
        "{}: {total} invokes, {concurrency} concurrent: {:.0} invokes/s ({} failed), \
         p50 {p50:.2?}, p99 {p99:.2?}; server RSS {before:.1} MB -> {after:.1} MB; \
         CPU per invoke: client {client:.1?}, server {serve:.1?}, one function process {function:.1?}",
        server.name,
        run.rate(),
        run.failed,
    );
    run.rate()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let environments: Vec<usize> = list("STAND_IN_ENVIRONMENTS")
        .map(|v| v.iter().filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4]);
    let iam = list("STAND_IN_IAM");
    let (total, concurrency) = (
        setting("STAND_IN_INVOKES", 100_000),
        setting("STAND_IN_CONCURRENCY", 64),
    );
    let cargo_lambda = cargo_lambda();
    if cargo_lambda.is_none() {
        println!("cargo-lambda: not found (CARGO_LAMBDA or PATH); measuring the stand-in alone");
    }
    for _ in 0..setting("STAND_IN_ROUNDS", 1) {
        let alone = hello_loop_alone(total).await;
        let theirs = match &cargo_lambda {
            Some(binary) => Some(measure(&cargo_lambda_watch(binary), total, concurrency).await),
            None => None,
        };
        let mut ours = None;
        for &n in &environments {
            for mode in iam
                .as_deref()
                .map_or(vec![None], |m| m.iter().map(Some).collect())
            {
                let rate =
                    measure(&stand_in(n, mode.map(String::as_str)), total, concurrency).await;
                if n == 1 && mode.is_none() {
                    ours = Some(rate);
                }
            }
        }
        if let Some(ours) = ours {
            println!(
                "one environment: the stand-in / hello's loop alone = {:.2}",
                ours / alone
            );
        }
        if let (Some(theirs), Some(ours)) = (theirs, ours) {
            println!(
                "ratio, one environment: stand-in / cargo-lambda = {:.2}",
                ours / theirs
            );
        }
    }
}
