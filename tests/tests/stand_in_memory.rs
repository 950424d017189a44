//! Memory stays flat under load: nothing is kept per invocation. In a test binary of its
//! own, so that no other test's stand-in shares the process whose memory is measured.

use std::sync::Arc;

use codedeploy_local::{Options, StandIn};
use e2e::{hello_on_live, proc_status_kb};

/// The resident memory of this process (the stand-in runs in it), in KB.
fn rss_kb() -> u64 {
    proc_status_kb(std::process::id(), "VmRSS").expect("Linux /proc")
}

/// `total` invokes of hello:live, `concurrency` at a time.
async fn invoke_many(local: &Arc<StandIn>, total: usize, concurrency: usize) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (local, next) = (Arc::clone(local), Arc::clone(&next));
            tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                    let out = local
                        .invoke("hello", Some("live"), br#"{"name":"load"}"#.to_vec())
                        .await;
                    assert_eq!(out.expect("hello exists").function_error, None);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a worker");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_over_100_000_alias_invokes() {
    let local = hello_on_live(Options::default()).await;
    // Warm up: processes started, buffers and pools at their working size.
    invoke_many(&local, 5_000, 200).await;
    let before = rss_kb();
    invoke_many(&local, 100_000, 200).await;
    let after = rss_kb();
    eprintln!("RSS {before} KB -> {after} KB over 100,000 invokes at 200 concurrency");
    assert!(
        after < before + 4 * 1024,
        "memory grew from {before} KB to {after} KB: something is kept per invocation"
    );
}
