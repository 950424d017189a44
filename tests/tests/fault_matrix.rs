//! The fault matrix: every AWS operation the example hooks call x {throttle, 5xx, stall,
//! reset} x {transient (twice), persistent} x {PreTraffic, PostTraffic}, with the real hook
//! binaries under the stand-in. The PreTraffic hook's calls include starting the shift's
//! watch (its lease: GetAlias and UpdateAlias; invoking itself): it must fail when the watch
//! cannot start. Plus the Serverless path (no `CODEDEPLOY_HOOKS_TARGET`, so
//! reading the deployment is required) for the reads.
//!
//! Expected verdicts:
//! - transient: the same verdict as without the fault (Succeeded);
//! - persistent: `Failed` reported before the deadline, naming the operation; or, when the
//!   report itself cannot get through, the handler fails so that Lambda retries the event;
//!   or, for a read that only cross-checks a configured target and that the hook does not
//!   need (PreTraffic), `Succeeded` with a warning naming the operation.
//!
//! The clock is compressed by short timeouts: 1 s per control-call attempt, 3 s per Invoke
//! attempt, a 20 s hook. A persistent cell runs up to the hook's deadline; cells run 16 at
//! a time.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use codedeploy_local::{Fault, HookStatus, Operation, ALWAYS};
use e2e::{Rehearsal, Setup, POST_HOOK, PRE_HOOK};
use tokio::sync::Semaphore;

const HOOK_TIMEOUT: Duration = Duration::from_secs(20);
const CELLS_AT_ONCE: usize = 16;
const FAULTS: [(Fault, &str); 4] = [
    (Fault::Throttle, "throttle"),
    (Fault::ServerError, "5xx"),
    (Fault::Stall, "stall"),
    (Fault::Reset, "reset"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pre,
    Post,
}

#[derive(Debug, Clone, Copy)]
struct Cell {
    phase: Phase,
    /// `CODEDEPLOY_HOOKS_TARGET` set, as template.yaml does; unset on the Serverless path.
    target_configured: bool,
    operation: Operation,
    fault: Fault,
    fault_name: &'static str,
    persistent: bool,
}

/// How a cell ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Reported(HookStatus),
    /// No report, and the handler failed: Lambda retries the event.
    LambdaRetry,
    /// No report and no handler error (or the function timed out): CodeDeploy would wait
    /// an hour.
    Unreported,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Reported(HookStatus::Succeeded) => "Succeeded",
            Verdict::Reported(HookStatus::Failed) => "Failed",
            Verdict::Reported(_) => "Reported",
            Verdict::LambdaRetry => "Lambda-retried",
            Verdict::Unreported => "UNREPORTED",
        })
    }
}

impl Cell {
    fn expected(&self) -> Verdict {
        if !self.persistent {
            return Verdict::Reported(HookStatus::Succeeded);
        }
        let is_read = matches!(
            self.operation,
            Operation::GetDeployment | Operation::GetApplicationRevision
        );
        match self.operation {
            Operation::PutLifecycleEventHookExecutionStatus => Verdict::LambdaRetry,
            // Only a cross-check: PreTraffic needs nothing else from the deployment.
            _ if is_read && self.target_configured && self.phase == Phase::Pre => {
                Verdict::Reported(HookStatus::Succeeded)
            }
            _ => Verdict::Reported(HookStatus::Failed),
        }
    }

    fn hook(&self) -> (&'static str, &'static str) {
        match self.phase {
            Phase::Pre => (PRE_HOOK, "BeforeAllowTraffic"),
            Phase::Post => (POST_HOOK, "AfterAllowTraffic"),
        }
    }
}

/// What one cell saw.
struct Seen {
    cell: Cell,
    verdict: Verdict,
    /// The hook's summary reason and warnings, or its error message.
    said: String,
}

async fn run_cell(cell: Cell) -> Seen {
    let mut hook_env = vec![
        (
            "CODEDEPLOY_HOOKS_ATTEMPT_TIMEOUT_MS".to_owned(),
            "1000".to_owned(),
        ),
        (
            "CODEDEPLOY_HOOKS_INVOKE_TIMEOUT_MS".to_owned(),
            "3000".to_owned(),
        ),
    ];
    if cell.target_configured {
        hook_env.push((
            "CODEDEPLOY_HOOKS_TARGET".to_owned(),
            "arn:aws:lambda:us-east-1:000000000000:function:hello:4".to_owned(),
        ));
    }
    let rehearsal = Rehearsal::start(Setup {
        hook_timeout: HOOK_TIMEOUT,
        hook_env,
        ..Setup::default()
    })
    .await;
    if cell.phase == Phase::Post {
        rehearsal
            .local
            .set_alias("hello", "live", "4")
            .expect("alias");
    }
    let times = if cell.persistent { ALWAYS } else { 2 };
    rehearsal
        .local
        .faults()
        .inject(cell.operation, cell.fault, times);
    let (hook, event) = cell.hook();
    let run = rehearsal.run_hook(hook, event).await;
    let answer = String::from_utf8_lossy(&run.result.payload).into_owned();
    let verdict = match (rehearsal.reported(&run), &run.result.function_error) {
        (Some(status), _) => Verdict::Reported(status),
        (None, Some(_)) if !answer.contains("Sandbox.Timedout") => Verdict::LambdaRetry,
        (None, _) => Verdict::Unreported,
    };
    if !cell.persistent {
        assert_eq!(
            rehearsal.local.faults().pending(cell.operation),
            0,
            "{cell:?}: the hook did not meet both faults"
        );
    }
    let said = match serde_json::from_str::<serde_json::Value>(&answer) {
        Ok(summary) if summary.get("status").is_some() => format!(
            "{} {}",
            summary["reason"].as_str().unwrap_or_default(),
            summary["warnings"]
        ),
        Ok(error) => error["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        Err(_) => answer,
    };
    Seen {
        cell,
        verdict,
        said,
    }
}

fn cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    let mut add = |phase, target_configured, operation| {
        for (fault, fault_name) in FAULTS {
            for persistent in [false, true] {
                cells.push(Cell {
                    phase,
                    target_configured,
                    operation,
                    fault,
                    fault_name,
                    persistent,
                });
            }
        }
    };
    let reads = [Operation::GetDeployment, Operation::GetApplicationRevision];
    // GetAlias and UpdateAlias: the PreTraffic hook starts the shift's watch (its lease).
    for operation in reads.iter().chain(&[
        Operation::Invoke,
        Operation::GetAlias,
        Operation::UpdateAlias,
        Operation::PutLifecycleEventHookExecutionStatus,
    ]) {
        add(Phase::Pre, true, *operation);
    }
    // GetMetricData: the PostTraffic hook's canary analysis.
    for operation in reads.iter().chain(&[
        Operation::GetAlias,
        Operation::GetMetricData,
        Operation::PutLifecycleEventHookExecutionStatus,
    ]) {
        add(Phase::Post, true, *operation);
    }
    for phase in [Phase::Pre, Phase::Post] {
        for operation in reads {
            add(phase, false, operation);
        }
    }
    cells
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_of_every_operation_gets_the_right_verdict() {
    let permits = Arc::new(Semaphore::new(CELLS_AT_ONCE));
    let mut runs = tokio::task::JoinSet::new();
    for cell in cells() {
        let permits = Arc::clone(&permits);
        runs.spawn(async move {
            let _permit = permits.acquire_owned().await;
            run_cell(cell).await
        });
    }
    let mut seen = Vec::new();
    while let Some(result) = runs.join_next().await {
        seen.push(result.expect("a cell ran to its end"));
    }
    seen.sort_by_key(|s| {
        let c = &s.cell;
        (
            c.target_configured,
            c.phase == Phase::Post,
            c.operation.api_name(),
            c.fault_name,
            c.persistent,
        )
    });

    let mut wrong = 0;
    let mut unreported = 0;
    let mut unnamed = 0;
    let mut table = format!(
        "{:<12} {:<36} {:<9} {:<10} {:<15} {:<15}\n",
        "hook", "operation", "fault", "times", "expected", "verdict"
    );
    for s in &seen {
        let c = &s.cell;
        let expected = c.expected();
        // A persistent failure must say which operation it was.
        let names_it = !c.persistent || s.said.contains(c.operation.api_name());
        let mark = if s.verdict != expected {
            wrong += 1;
            "  <-- WRONG"
        } else if !names_it {
            unnamed += 1;
            "  <-- does not name the operation"
        } else {
            ""
        };
        unreported += usize::from(s.verdict == Verdict::Unreported);
        let hook = format!(
            "{:?}{}",
            c.phase,
            if c.target_configured { "" } else { " (sls)" }
        );
        let times = if c.persistent { "always" } else { "2" };
        table.push_str(&format!(
            "{hook:<12} {:<36} {:<9} {times:<10} {:<15} {:<15}{mark}\n",
            c.operation.api_name(),
            c.fault_name,
            expected.to_string(),
            s.verdict.to_string()
        ));
        if !mark.is_empty() {
            table.push_str(&format!("    the hook said: {}\n", s.said));
        }
    }
    table.push_str(&format!(
        "fault matrix: {} cells, {wrong} wrong verdicts, {unreported} unreported, {unnamed} not naming the operation\n",
        seen.len()
    ));
    print!("{table}");
    // CI prints this file: a passing test's output is captured.
    let file = e2e::bin_dir().join("../fault-matrix.txt");
    std::fs::write(&file, &table).expect("the matrix is written to target/");
    assert_eq!(
        (wrong, unreported, unnamed),
        (0, 0, 0),
        "see the matrix above"
    );
}
