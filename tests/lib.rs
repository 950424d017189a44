//! Shared set-up of the end-to-end tests: the example functions published in the local
//! stand-in, a deployment of `hello` from version 3 to 4, and the hooks run as CodeDeploy
//! runs them.
//!
//! The tests run the real binaries of `hooks-examples`; build them first:
//! `cargo build --workspace --bins` (the README's test command does).

pub mod browser;

use std::path::PathBuf;
use std::time::Duration;

use codedeploy_local::{
    DeploymentSpec, InvocationLog, InvokeResult, Options, RevisionForm, StandIn, VersionSpec,
};
use serde_json::Value;

/// The hook functions' names, as the template names them.
pub const PRE_HOOK: &str = "CodeDeployHook_pre_traffic";
/// The PostTraffic hook's function name.
pub const POST_HOOK: &str = "CodeDeployHook_post_traffic";

/// A built binary of this workspace.
///
/// # Panics
/// When it has not been built: the message says how to build it.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` before the end-to-end tests",
        path.display()
    );
    path
}

/// The test function `chatty` (`tests/functions/chatty`): it prints lines, answers big, or
/// dies as its event asks.
pub fn chatty() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("functions/chatty/bootstrap")
}

/// How to set up a rehearsal.
pub struct Setup {
    /// `HELLO_FAULT` of the new version (4).
    pub fault: Option<&'static str>,
    /// The hooks' function timeout (the Lambda deadline they see).
    pub hook_timeout: Duration,
    /// The revision's type (GetDeployment gives only its sha256 either way).
    pub revision_form: RevisionForm,
    /// Environment variables of both hooks (e.g. `CODEDEPLOY_HOOKS_TARGET`).
    pub hook_env: Vec<(String, String)>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            fault: None,
            hook_timeout: Duration::from_secs(30),
            revision_form: RevisionForm::AppSpecContent,
            hook_env: Vec::new(),
        }
    }
}

/// A stand-in holding `hello` 3 (on alias `live`) and 4, both hooks, and a deployment.
pub struct Rehearsal {
    /// The stand-in.
    pub local: StandIn,
    /// The deployment of hello 3 -> 4.
    pub deployment_id: String,
    /// Every invocation since the start.
    pub invocations: InvocationLog,
}

impl Rehearsal {
    /// Start the stand-in and publish everything.
    pub async fn start(setup: Setup) -> Rehearsal {
        let local = StandIn::start(Options::default())
            .await
            .expect("the stand-in starts");
        let invocations = local.record_invocations();
        let hello = binary("hello");
        let timeout = Duration::from_secs(30);
        local
            .publish_version("hello", "3", VersionSpec::new(&hello).timeout(timeout))
            .expect("hello 3");
        let mut new = VersionSpec::new(&hello).timeout(timeout);
        if let Some(fault) = setup.fault {
            new = new.env("HELLO_FAULT", fault);
        }
        local.publish_version("hello", "4", new).expect("hello 4");
        local.set_alias("hello", "live", "3").expect("alias live");
        for (name, bin) in [(PRE_HOOK, "pre-traffic"), (POST_HOOK, "post-traffic")] {
            let mut spec = VersionSpec::new(binary(bin)).timeout(setup.hook_timeout);
            for (key, value) in &setup.hook_env {
                spec = spec.env(key, value);
            }
            local.publish_version(name, "1", spec).expect("hook");
        }
        // The PreTraffic hook starts the shift's watch, whose lease is this alias (as
        // template.yaml creates it).
        local
            .set_alias(PRE_HOOK, codedeploy_hooks::LEASE_ALIAS, "$LATEST")
            .expect("the watch's lease alias");
        let spec = DeploymentSpec::new("hello", "live", "3", "4")
            .hook("BeforeAllowTraffic", PRE_HOOK)
            .hook("AfterAllowTraffic", POST_HOOK)
            .revision_form(setup.revision_form);
        let deployment_id = local.create_deployment(spec);
        Rehearsal {
            local,
            deployment_id,
            invocations,
        }
    }

    /// Open a hook execution and invoke the hook with its event, as CodeDeploy does.
    pub async fn run_hook(&self, hook: &str, lifecycle_event: &str) -> HookRun {
        let (execution_id, event) = self
            .local
            .start_hook_execution(&self.deployment_id, lifecycle_event)
            .expect("the deployment exists");
        let result = self.deliver(hook, &event).await;
        HookRun {
            execution_id,
            event,
            result,
        }
    }

    /// Deliver a hook event (again).
    pub async fn deliver(&self, hook: &str, event: &Value) -> InvokeResult {
        self.local
            .invoke(hook, Some("1"), event.to_string().into_bytes())
            .await
            .expect("the hook function exists")
    }

    /// What the hook reported for this run.
    pub fn reported(&self, run: &HookRun) -> Option<codedeploy_local::HookStatus> {
        self.local
            .hook_status(&self.deployment_id, &run.execution_id)
    }
}

/// One run of a hook.
pub struct HookRun {
    /// The execution id CodeDeploy handed the hook.
    pub execution_id: String,
    /// The event.
    pub event: Value,
    /// What the hook function answered.
    pub result: InvokeResult,
}

impl HookRun {
    /// The hook's answer (its summary), parsed.
    ///
    /// # Panics
    /// When the answer is not JSON; the message shows it and the log.
    pub fn summary(&self) -> Value {
        serde_json::from_slice(&self.result.payload).unwrap_or_else(|e| {
            panic!(
                "the hook's answer is not JSON ({e}): {}\nlog:\n{}",
                String::from_utf8_lossy(&self.result.payload),
                self.result.log
            )
        })
    }
}

/// The project's `template.yaml`.
pub fn template() -> codedeploy_local::Template {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    codedeploy_local::Template::load(&path).expect("template.yaml parses")
}

/// A loopback address where nothing listens: it was free a moment ago, so connecting to it
/// is refused (for tests of what a client does then; no traffic leaves loopback).
pub fn closed_loopback_address() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}

/// The folder of the built binaries.
pub fn bin_dir() -> PathBuf {
    binary("hello").parent().expect("a folder").to_owned()
}

/// `codedeploy-local deploy` of the workspace's `template.yaml` with the built binaries, its
/// functions' logs in `dir/logs`; add the flags and run it.
pub fn deploy_command(dir: &std::path::Path) -> tokio::process::Command {
    let template = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    deploy_command_for(&template, dir)
}

/// `codedeploy-local deploy` of `template` with the built binaries, its functions' logs in
/// `dir/logs`; add the flags and run it.
pub fn deploy_command_for(
    template: &std::path::Path,
    dir: &std::path::Path,
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary("codedeploy-local"));
    command
        .arg("deploy")
        .arg("--template")
        .arg(template)
        .arg("--bin-dir")
        .arg(bin_dir())
        .arg("--log-dir")
        .arg(dir.join("logs"));
    command
}

/// Rehearse the template's deployment in a new stand-in, with prebuilt binaries.
pub async fn rehearse(
    template: &codedeploy_local::Template,
    options: codedeploy_local::RehearsalOptions,
    adjust: impl FnOnce(&StandIn, &mut codedeploy_local::DeploymentPlan),
) -> (StandIn, codedeploy_local::DeploymentOutcome) {
    let local = StandIn::start(Options::default())
        .await
        .expect("the stand-in starts");
    let mut options = options;
    options.binaries = codedeploy_local::Binaries::Dir(bin_dir());
    let mut plan = codedeploy_local::prepare(&local, template, &options)
        .await
        .unwrap_or_else(|e| panic!("the rehearsal is prepared: {e}"));
    adjust(&local, &mut plan);
    let outcome = local.deploy(plan, &mut |_| {}).await;
    (local, outcome)
}

/// `hello` versions 1 on alias `live`, two execution environments, in a new stand-in.
pub async fn hello_on_live(options: Options) -> std::sync::Arc<StandIn> {
    let local = StandIn::start(options).await.expect("the stand-in starts");
    let spec = VersionSpec::new(binary("hello")).environments(2);
    local.publish_version("hello", "1", spec).expect("hello 1");
    local.set_alias("hello", "live", "1").expect("alias");
    std::sync::Arc::new(local)
}

/// A `kB` field of a process's `/proc/<pid>/status` (Linux), e.g. `VmRSS` or `VmHWM`.
pub fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?;
    line.split_whitespace().next()?.parse().ok()
}

/// Raise this process's soft limit of open files to its hard limit (tests holding many
/// sockets need more than the common soft 1,024); returns the limit now in force.
pub fn raise_open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write one rlimit we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

/// `kill -9` a process, as a crash or an out-of-memory kill would end it.
pub fn kill_9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -9 {pid}");
}

/// A process watched through a pidfd, opened while the process is known to be the one
/// meant (a child not yet reaped keeps its pid): waiting on it is waiting for an event the
/// kernel gives when the process ends, not a guess at how long that takes.
pub struct Watched(Option<std::os::fd::OwnedFd>);

impl Watched {
    /// Watch `pid`; a process already gone (reaped) is watched as ended.
    pub fn open(pid: u32) -> Watched {
        let id = libc::pid_t::try_from(pid).expect("a pid");
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor we own.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, id, 0) };
        let Ok(fd) = i32::try_from(fd) else {
            return Watched(None);
        };
        if fd < 0 {
            return Watched(None);
        }
        // SAFETY: `fd` is ours, from pidfd_open above, and closed only by the OwnedFd.
        Watched(Some(unsafe {
            <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd)
        }))
    }

    /// Whether the process ends within `within`.
    pub fn ends_within(&self, within: std::time::Duration) -> bool {
        let Some(fd) = &self.0 else {
            return true;
        };
        let mut poll = libc::pollfd {
            fd: std::os::fd::AsRawFd::as_raw_fd(fd),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(within.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd; the timeout bounds the wait.
        unsafe { libc::poll(&mut poll, 1, ms) == 1 }
    }
}

/// `kill -9` a process and return once it has exited, as the kernel tells through a pidfd
/// (readable when the process has ended): an event, not a guess at how long dying takes.
/// `kill(2)` returns before the target has run its exit; a test that means "a dead
/// process" waits for this.
///
/// # Panics
/// When the process does not end within 10 s of SIGKILL.
pub fn kill_9_and_wait(pid: u32) {
    let watched = Watched::open(pid);
    if watched.0.is_none() {
        return; // gone (reaped) already
    }
    kill_9(pid);
    assert!(
        watched.ends_within(std::time::Duration::from_secs(10)),
        "process {pid} did not end within 10 s of SIGKILL"
    );
}

/// An SDK configuration for the stand-in at `endpoint`, with test credentials.
pub fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_lambda::config::SharedCredentialsProvider::new(
            aws_sdk_lambda::config::Credentials::for_tests(),
        ))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

// The guide's Rust examples compile as doctests of this crate (it has the framework with its
// `hook` and `canary` features, tokio and serde_json): a page whose example stops compiling
// fails `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../docs/hooks.md")]
struct HooksGuide;

#[cfg(doctest)]
#[doc = include_str!("../docs/watch.md")]
struct WatchGuide;

#[cfg(doctest)]
#[doc = include_str!("../docs/canary.md")]
struct CanaryGuide;

#[cfg(doctest)]
#[doc = include_str!("../docs/cli.md")]
struct CliGuide;
