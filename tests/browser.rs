//! Headless Chromium for the browser tests: the DOM after the page's scripts ran
//! (`--dump-dom`), screenshots and PDFs. Chromium is a Debian package that `.ci/run`
//! installs and names in `CHROMIUM`; without either (a developer's machine) the browser tests
//! say they skipped.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The flags every run takes: no sandbox (CI runs as root), no GPU, no calls home.
const FLAGS: [&str; 5] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--hide-scrollbars",
];

/// How long a page's script may run in Chromium's virtual time before the DOM is read:
/// virtual time waits for the page's fetches, so this bounds its polling, not the machine.
const SCRIPT_BUDGET: Duration = Duration::from_millis(2500);

/// The Chromium to use: `$CHROMIUM` (which must work: `.ci/run` sets it), else `chromium` or
/// `google-chrome` on the PATH; `None` (the test says it skipped) when there is none.
///
/// # Panics
/// When `$CHROMIUM` does not run.
pub fn chromium() -> Option<PathBuf> {
    let runs = |c: &Path| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if let Some(given) = std::env::var_os("CHROMIUM").map(PathBuf::from) {
        assert!(runs(&given), "CHROMIUM={} does not run", given.display());
        return Some(given);
    }
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .map(PathBuf::from)
        .into_iter()
        .find(|c| runs(c));
    if found.is_none() {
        eprintln!("skipped: no Chromium here (apt-get install chromium, or set CHROMIUM)");
    }
    found
}

/// The DOM of `url` after its scripts ran, as Chromium serializes it.
///
/// # Panics
/// When Chromium fails.
pub async fn dom(chromium: &Path, url: &str) -> String {
    let budget = format!("--virtual-time-budget={}", SCRIPT_BUDGET.as_millis());
    let output = run(chromium, &[&budget, "--dump-dom", url]).await;
    String::from_utf8(output).expect("Chromium writes UTF-8")
}

/// A screenshot of `url` at `width` x `height` CSS pixels, written to `path`.
///
/// # Panics
/// When Chromium fails or writes no file.
pub async fn screenshot(chromium: &Path, url: &str, path: &Path, (width, height): (u32, u32)) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("the screenshot's folder");
    }
    let budget = format!("--virtual-time-budget={}", SCRIPT_BUDGET.as_millis());
    let size = format!("--window-size={width},{height}");
    let to = format!("--screenshot={}", path.display());
    run(chromium, &[&budget, &size, &to, url]).await;
    assert!(path.is_file(), "Chromium wrote no {}", path.display());
}

/// `url` printed to PDF (A4, the page's print styles), written to `path`.
///
/// # Panics
/// When Chromium fails or writes no file.
pub async fn print(chromium: &Path, url: &str, path: &Path) {
    let to = format!("--print-to-pdf={}", path.display());
    run(chromium, &["--no-pdf-header-footer", &to, url]).await;
    assert!(path.is_file(), "Chromium wrote no {}", path.display());
}

/// Where the browser tests leave what they saw (CI keeps `target/`): `target/picture/`.
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/picture");
    std::fs::create_dir_all(&dir).expect("target/picture");
    dir
}

async fn run(chromium: &Path, args: &[&str]) -> Vec<u8> {
    // Each run its own profile: runs in parallel must not share one.
    let profile = std::env::temp_dir().join(format!(
        "codedeploy-chromium-{}-{}",
        std::process::id(),
        run_number()
    ));
    let output = tokio::process::Command::new(chromium)
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("Chromium ends within a minute")
        .expect("Chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        output.status.success(),
        "Chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn run_number() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
