//! What a version is (its spec and configuration) and what an invocation of it returns.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

/// The most of a log that `LogType: Tail` returns, as Lambda does.
const TAIL_BYTES: usize = 4096;

/// How one version of a function runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VersionSpec {
    /// The executable (a `bootstrap` built by cargo).
    pub binary: PathBuf,
    /// Environment variables, as the template's `Environment.Variables`.
    pub env: BTreeMap<String, String>,
    /// The function timeout: an invocation running longer is stopped and fails.
    pub timeout: Duration,
    /// `MemorySize`, passed to the runtime and written in REPORT lines (not enforced).
    pub memory_mb: u32,
    /// How many execution environments (processes) may serve it at once.
    pub environments: usize,
    /// `Architectures`' one entry, as configured: `x86_64` (Lambda's default) or `arm64`.
    /// Reported by the API; the binary runs on this machine whatever it says.
    pub architecture: String,
    /// The execution role: its credentials are the function's, and the calls made with
    /// them are checked against its policies. Without one, the function's calls are not
    /// checked.
    pub role: Option<std::sync::Arc<crate::iam::Role>>,
}

impl VersionSpec {
    /// A version running `binary` with a 3 s timeout, 128 MB and one environment, as
    /// Lambda's defaults.
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        VersionSpec {
            binary: binary.into(),
            env: BTreeMap::new(),
            timeout: Duration::from_secs(3),
            memory_mb: 128,
            environments: 1,
            architecture: "x86_64".into(),
            role: None,
        }
    }

    /// Set an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Set the execution role.
    pub fn role(mut self, role: std::sync::Arc<crate::iam::Role>) -> Self {
        self.role = Some(role);
        self
    }

    /// Set the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Set the number of execution environments.
    pub fn environments(mut self, n: usize) -> Self {
        self.environments = n.max(1);
        self
    }
}

/// What an invocation returned.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InvokeResult {
    /// The response, or the error JSON for a function error.
    pub payload: Bytes,
    /// `Unhandled` when the function failed.
    pub function_error: Option<String>,
    /// The version that ran (`$LATEST` for an unqualified invoke).
    pub executed_version: String,
    /// The invocation's request id, as in its log lines.
    pub request_id: String,
    /// The function's log lines for this invocation, with START/END/REPORT lines.
    pub log: String,
    /// Time from dispatch to the answer.
    pub duration: Duration,
}

impl InvokeResult {
    /// The last 4 KB of the log, as `X-Amz-Log-Result` carries it (before base64).
    pub fn log_tail(&self) -> &str {
        let mut start = self.log.len().saturating_sub(TAIL_BYTES);
        while !self.log.is_char_boundary(start) {
            start += 1;
        }
        &self.log[start..]
    }
}

/// Who a version is, for its process environment, ARNs and its configuration.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) function_name: String,
    /// `1`, `2`, ... or `$LATEST`.
    pub(crate) version: String,
    pub(crate) function_arn: String,
    pub(crate) region: String,
    pub(crate) account_id: String,
    /// The stand-in's own endpoint: functions' SDK calls come back to it.
    pub(crate) endpoint: String,
    /// Where the function's output goes, one file per function, when set.
    pub(crate) log_dir: Option<PathBuf>,
    /// When it was published (`LastModified`).
    pub(crate) published: SystemTime,
    /// Changes with every publish, as Lambda's `RevisionId`.
    pub(crate) revision_id: String,
    /// Its role's credentials, as Lambda gives them; none for a version without a role.
    pub(crate) credentials: Option<crate::iam::Credentials>,
    /// Who reads the lines the function prints (watch rounds, EMF metrics).
    pub(crate) log_taps: super::LogTaps,
    /// The stand-in's tasks, where its supervisors and log pumps run.
    pub(crate) tasks: crate::tasks::Tasks,
    /// Where its processes' Runtime API is served.
    pub(crate) api_host: super::runtime::api_thread::ApiHost,
}

/// The binary's size and sha256, computed once, when first asked (a debug binary is tens of
/// MB: publishing stays instant).
#[derive(Debug, Default)]
pub(crate) struct CodeDigest(OnceLock<(u64, String)>);

impl CodeDigest {
    /// `(CodeSize, CodeSha256)`: base64 of the binary's sha256, as Lambda gives it for the
    /// zip (the stand-in has no zip, so it is the binary's).
    pub(crate) fn of(&self, binary: &std::path::Path) -> &(u64, String) {
        self.0.get_or_init(|| {
            use base64::Engine as _;
            use sha2::{Digest, Sha256};
            match std::fs::read(binary) {
                Ok(bytes) => (
                    bytes.len() as u64,
                    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes)),
                ),
                Err(_) => (0, String::new()),
            }
        })
    }
}
