//! The stand-in under abuse: held connections neither starve invokes nor use up file
//! descriptors, a killed process is never handed another request,
//! and log tails are complete. Bounded in count and time; loopback only.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use codedeploy_local::{Options, StandIn, VersionSpec};
use e2e::{binary, hello_on_live};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_connections_time_out_and_cannot_starve_invokes_or_restarts() {
    let mut options = Options::default();
    options.max_connections = 16;
    options.idle_timeout = Duration::from_millis(300);
    let local = hello_on_live(options).await;
    let address = local.endpoint().trim_start_matches("http://").to_owned();
    // Idle connections, and half-open ones that never finish their request head.
    let mut held: Vec<TcpStream> = (0..400)
        .map(|i| {
            let mut socket = TcpStream::connect(&address).expect("connect");
            if i % 2 == 0 {
                socket
                    .write_all(b"POST / HTTP/1.1\r\nHost: x\r\n")
                    .expect("a partial head");
            }
            socket
        })
        .collect();
    let client = reqwest_like_invoke(&address);
    let answer = tokio::time::timeout(Duration::from_secs(60), client).await;
    assert_eq!(
        answer.expect("the invoke is served once held connections time out"),
        200
    );
    // The server closed the held connections (EOF), bounded in time by the read timeout.
    let socket = &mut held[0];
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut buf = [0u8; 512];
    let read = socket.read(&mut buf).unwrap_or(0);
    assert!(
        read == 0 || String::from_utf8_lossy(&buf[..read]).contains("408"),
        "an idle connection is closed"
    );
    // A function restart still gets its file descriptors.
    for pid in local.pids("hello", "1") {
        e2e::kill_9(pid);
    }
    let out = local
        .invoke("hello", Some("live"), b"{}".to_vec())
        .await
        .expect("hello");
    assert_eq!(
        out.function_error,
        None,
        "{}",
        String::from_utf8_lossy(&out.payload)
    );
}

/// An Invoke over a new connection; its HTTP status.
async fn reqwest_like_invoke(address: &str) -> u16 {
    let address = address.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut socket = TcpStream::connect(&address).expect("connect");
        socket.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
        let body = br#"{"name":"through"}"#;
        let head = format!(
            "POST /2015-03-31/functions/hello/invocations?Qualifier=live HTTP/1.1\r\nHost: {address}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        socket.write_all(head.as_bytes()).expect("request head");
        socket.write_all(body).expect("request body");
        let mut answer = String::new();
        let _ = socket.read_to_string(&mut answer);
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    })
    .await
    .expect("the client thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_is_never_handed_another_request() {
    let local = StandIn::start(Options::default()).await.expect("starts");
    local
        .publish_version("hello", "1", VersionSpec::new(binary("hello")))
        .expect("hello 1");
    for round in 0..40 {
        kill_then_invoke(&local, round).await;
    }
}

/// One round: an invoke, a kill of the process right after its answer (while it waits for
/// the next event), and the next invoke, which must run on a fresh process. Even rounds
/// wait until the kernel says the process has ended (then it must never be chosen); odd
/// rounds invoke at once, while SIGKILL may still be on its way (then the event it may have
/// been handed goes to a fresh process). Both orders must give the same answer.
async fn kill_then_invoke(local: &StandIn, round: usize) {
    let out = local
        .invoke("hello", Some("1"), b"{}".to_vec())
        .await
        .expect("hello");
    assert_eq!(out.function_error, None, "round {round}");
    let pids = local.pids("hello", "1");
    if round.is_multiple_of(2) {
        e2e::kill_9_and_wait(pids[0]);
    } else {
        e2e::kill_9(pids[0]);
    }
    let out = local
        .invoke("hello", Some("1"), b"{}".to_vec())
        .await
        .expect("hello");
    assert_eq!(
        out.function_error,
        None,
        "round {round}: the next invoke ran on the dead process: {}",
        String::from_utf8_lossy(&out.payload)
    );
    // A fresh process: its first REPORT line gives its init (a cold start), as Lambda's does.
    assert!(
        out.log.contains("Init Duration: "),
        "round {round}: not a cold start:\n{}",
        out.log
    );
}

/// The stress target of issue 20: `KILL_ROUNDS` (1,000 by default) rounds of kill-then-invoke,
/// outside the default run: `cargo test -p e2e --test stand_in -- --ignored stress`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a stress run; see its doc"]
async fn stress_kill_then_invoke() {
    let rounds = std::env::var("KILL_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000);
    let local = StandIn::start(Options::default()).await.expect("starts");
    local
        .publish_version("hello", "1", VersionSpec::new(binary("hello")))
        .expect("hello 1");
    for round in 0..rounds {
        kill_then_invoke(&local, round).await;
    }
    println!("{rounds} rounds of kill-then-invoke: 0 timeouts, 0 errors");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_dies_with_the_event_fails_it_at_once_with_runtime_exit_error() {
    let local = StandIn::start(Options::default()).await.expect("starts");
    let mut spec = VersionSpec::new(e2e::chatty());
    // An answer that waited out the timeout would be Sandbox.Timedout, after 10 minutes.
    spec.timeout = Duration::from_secs(600);
    local
        .publish_version("chatty", "1", spec)
        .expect("chatty 1");
    let out = local
        .invoke("chatty", Some("1"), br#"{"exit": 3}"#.to_vec())
        .await
        .expect("chatty");
    let payload = String::from_utf8_lossy(&out.payload).into_owned();
    assert_eq!(
        out.function_error.as_deref(),
        Some("Unhandled"),
        "{payload}"
    );
    assert!(payload.contains("Runtime.ExitError"), "{payload}");
    assert!(payload.contains("exit status: 3"), "{payload}");
    let out = local
        .invoke(
            "chatty",
            Some("1"),
            br#"{"lines": 1, "kill_self": true}"#.to_vec(),
        )
        .await
        .expect("chatty");
    let payload = String::from_utf8_lossy(&out.payload).into_owned();
    assert!(payload.contains("Runtime.ExitError"), "{payload}");
    assert!(payload.contains("signal: 9"), "{payload}");
    assert!(out.log_tail().contains("line 0"), "{}", out.log_tail());
    // And the next event runs on a fresh process.
    let out = local
        .invoke("chatty", Some("1"), br#"{"lines": 0}"#.to_vec())
        .await
        .expect("chatty");
    assert_eq!(out.function_error, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_dies_during_init_fails_the_invoke_with_the_reason() {
    let local = StandIn::start(Options::default()).await.expect("starts");
    let spec = VersionSpec::new(e2e::chatty()).env("CHATTY_INIT_EXIT", "4");
    local
        .publish_version("chatty", "1", spec)
        .expect("chatty 1");
    for round in 0..2 {
        let out = local
            .invoke("chatty", Some("1"), b"{}".to_vec())
            .await
            .expect("chatty");
        let payload = String::from_utf8_lossy(&out.payload).into_owned();
        assert!(
            payload.contains("Runtime.ExitError"),
            "round {round}: {payload}"
        );
        assert!(
            payload.contains("Runtime exited during init (exit status: 4)"),
            "round {round}: {payload}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_tails_hold_every_line_printed_before_the_answer_and_a_full_report() {
    let local = StandIn::start(Options::default()).await.expect("starts");
    let spec = VersionSpec::new(e2e::chatty());
    local
        .publish_version("chatty", "1", spec)
        .expect("chatty 1");
    for round in 0..150 {
        let lines = round % 5;
        let payload = format!(r#"{{"lines": {lines}}}"#).into_bytes();
        let out = local
            .invoke("chatty", Some("1"), payload)
            .await
            .expect("chatty");
        let tail = out.log_tail();
        let last = format!("last line of {}\n", out.request_id);
        assert!(
            tail.contains(&last),
            "round {round}: the last line is missing from\n{tail}"
        );
        assert_eq!(
            tail.matches("line ").count(),
            lines + 1,
            "round {round}:\n{tail}"
        );
        let report = tail.lines().last().expect("a REPORT line");
        for field in [
            "REPORT RequestId: ",
            "\tDuration: ",
            " ms\tBilled Duration: ",
            " ms\tMemory Size: 128 MB\tMax Memory Used: ",
        ] {
            assert!(report.contains(field), "{field:?} missing from {report:?}");
        }
        assert_eq!(report.contains("Init Duration: "), round == 0, "{report}");
    }
}

/// A version published again replaces the old one's processes; not in `shutdown.rs`, whose
/// test counts every child process of its binary as the stand-in's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_published_again_stops_the_processes_of_the_one_it_replaces() {
    let local = StandIn::start(Options::default()).await.expect("starts");
    let hello = || VersionSpec::new(binary("hello"));
    local
        .publish_version("hello", "1", hello())
        .expect("published");
    let first = local
        .invoke("hello", Some("1"), br#"{"name":"one"}"#.to_vec())
        .await;
    assert!(first.is_ok_and(|r| r.function_error.is_none()));
    let (old_version, old_latest) = (local.pids("hello", "1"), local.pids("hello", "$LATEST"));
    assert_eq!(old_version.len(), 1, "one process served version 1");
    assert!(old_latest.is_empty(), "$LATEST was never invoked");
    let watched = e2e::Watched::open(old_version[0]);
    local
        .publish_version("hello", "1", hello())
        .expect("published again");
    assert!(
        watched.ends_within(Duration::from_secs(10)),
        "the replaced version's process {} still runs",
        old_version[0]
    );
    let second = local
        .invoke("hello", Some("1"), br#"{"name":"two"}"#.to_vec())
        .await;
    assert!(
        second.is_ok_and(|r| r.function_error.is_none()),
        "the new version serves"
    );
    assert_ne!(local.pids("hello", "1"), old_version);
    local.shutdown().await;
}

/// Execution environments start on demand, as Lambda's: one per invocation in flight, up to
/// the version's number; a version nobody calls runs none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environments_start_only_when_every_one_started_is_busy() {
    let local = StandIn::start(Options::default()).await.expect("starts");
    let hello = binary("hello");
    local
        .publish_version("hello", "1", VersionSpec::new(&hello).environments(3))
        .expect("hello 1");
    assert_eq!(
        local.environments_started("hello", "1"),
        0,
        "none before a call"
    );
    for _ in 0..3 {
        let out = local.invoke("hello", Some("1"), b"{}".to_vec()).await;
        assert_eq!(out.expect("hello").function_error, None);
    }
    assert_eq!(
        local.environments_started("hello", "1"),
        1,
        "one at a time: one"
    );
    assert_eq!(local.pids("hello", "1").len(), 1);
    // Two calls at once: the first is held 10 s by the slow version, so the second cannot
    // find its environment free whatever the scheduling. Each is polled once (it enters the
    // queue and waits), then dropped.
    let slow = VersionSpec::new(&hello)
        .env("HELLO_FAULT", "slow")
        .environments(3)
        .timeout(Duration::from_secs(60));
    local.publish_version("hello", "2", slow).expect("hello 2");
    let first = local.invoke("hello", Some("2"), b"{}".to_vec());
    let second = local.invoke("hello", Some("2"), b"{}".to_vec());
    futures::pin_mut!(first, second);
    assert!(futures::poll!(first.as_mut()).is_pending());
    assert_eq!(
        local.environments_started("hello", "2"),
        1,
        "one for the first"
    );
    assert!(futures::poll!(second.as_mut()).is_pending());
    assert_eq!(
        local.environments_started("hello", "2"),
        2,
        "two at once: a second"
    );
    local.shutdown().await;
}
