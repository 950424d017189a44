//! `StandIn::shutdown` leaves nothing behind (issue 21): no function process, no listening
//! socket, no task, no thread, even with a deployment, a delivery and an invocation under way. Its own
//! test binary, so that every child process of this one is the stand-in's.

use std::time::Duration;

use codedeploy_local::{DeploymentSpec, Options, StandIn, VersionSpec};
use e2e::binary;

/// The running (not zombie) child processes of this process.
fn running_children() -> Vec<u32> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
            let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
            let (state, ppid) = (fields.next()?, fields.next()?);
            (ppid == me && state != "Z").then_some(pid)
        })
        .collect()
}

/// This process's threads with that name.
fn threads_named(name: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == name)
        .count()
}

fn refused(url: &str) -> bool {
    let address = url.trim_start_matches("http://");
    std::net::TcpStream::connect(address).is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_no_process_socket_or_task() {
    // As the binary runs it: the functions' Runtime API on a thread of its own.
    let mut options = Options::default();
    options.runtime_api_thread = true;
    let local = StandIn::start(options).await.expect("starts");
    let hello = binary("hello");
    let slow = VersionSpec::new(&hello)
        .env("HELLO_FAULT", "slow")
        .timeout(Duration::from_secs(60));
    local
        .publish_version("hello", "1", VersionSpec::new(&hello))
        .expect("hello 1");
    local.publish_version("hello", "2", slow).expect("hello 2");
    local
        .publish_version("never-reports", "1", VersionSpec::new(&hello))
        .expect("never-reports");
    local.set_alias("hello", "live", "1").expect("alias");
    let out = local.invoke("hello", Some("live"), b"{}".to_vec()).await;
    assert_eq!(out.expect("hello").function_error, None);
    let alias_url = local
        .serve_alias_http("hello", "live")
        .await
        .expect("an HTTP endpoint");
    // An asynchronous invocation under way (version 2 answers after 10 s), and a deployment
    // whose hook never reports.
    let accepted = reqwest::Client::new()
        .post(format!(
            "{}/2015-03-31/functions/hello/invocations?Qualifier=2",
            local.endpoint()
        ))
        .header("X-Amz-Invocation-Type", "Event")
        .body("{}")
        .send()
        .await
        .expect("accepted");
    assert_eq!(accepted.status().as_u16(), 202);
    local.create_deployment(
        DeploymentSpec::new("hello", "live", "1", "2").hook("BeforeAllowTraffic", "never-reports"),
    );
    assert_eq!(local.environments_started("hello", "1"), 1);
    assert!(
        !running_children().is_empty(),
        "hello 1's environment runs: {:?}",
        running_children()
    );
    assert!(local.running_tasks() > 0);
    assert_eq!(
        threads_named("runtime-api"),
        1,
        "the Runtime API's thread runs"
    );

    local.shutdown().await;

    assert_eq!(local.running_tasks(), 0, "every task has ended");
    assert_eq!(
        running_children(),
        Vec::<u32>::new(),
        "no function process runs"
    );
    assert!(refused(local.endpoint()), "the API port is closed");
    assert!(refused(&alias_url), "the alias's HTTP endpoint is closed");
    assert_eq!(
        threads_named("runtime-api"),
        0,
        "the Runtime API's thread has ended"
    );
}
