//! Building the template's functions: cargo in the project, or at a git ref in a temporary
//! worktree (the current version of `--current-git-ref`), or prebuilt binaries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tracing::info;

use crate::error::{BuildError, Error};

/// Where the function binaries come from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Binaries {
    /// `cargo build` them in the template's folder (`--release` when asked).
    Build {
        /// Build with `--release`.
        release: bool,
    },
    /// Take them, already built, from this folder (e.g. `target/debug`).
    Dir(PathBuf),
}

/// The path of each wanted binary.
pub(crate) async fn locate(
    root: &Path,
    binaries: &Binaries,
    wanted: &[&str],
) -> Result<BTreeMap<String, PathBuf>, Error> {
    match binaries {
        Binaries::Dir(dir) => wanted
            .iter()
            .map(|name| {
                let path = dir.join(name);
                if path.is_file() {
                    Ok((name.to_string(), path))
                } else {
                    Err(Error::MissingBinary { path })
                }
            })
            .collect(),
        Binaries::Build { release } => cargo_build(root, wanted, *release, None).await,
    }
}

/// `cargo build --bin ...` in `dir`; the executables, from cargo's JSON messages.
async fn cargo_build(
    dir: &Path,
    binaries: &[&str],
    release: bool,
    target_dir: Option<&Path>,
) -> Result<BTreeMap<String, PathBuf>, Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = tokio::process::Command::new(cargo);
    command
        .current_dir(dir)
        .args(["build", "--message-format=json-render-diagnostics"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit());
    if release {
        command.arg("--release");
    }
    for b in binaries {
        command.args(["--bin", b]);
    }
    if let Some(target) = target_dir {
        command.env("CARGO_TARGET_DIR", target);
    }
    info!(dir = %dir.display(), ?binaries, release, "building the functions");
    let output = command.output().await.map_err(|source| {
        Error::Build(BuildError::Spawn {
            program: "cargo",
            dir: dir.to_owned(),
            source,
        })
    })?;
    if !output.status.success() {
        return Err(Error::Build(BuildError::Cargo {
            dir: dir.to_owned(),
            status: output.status,
        }));
    }
    let found = executables(&String::from_utf8_lossy(&output.stdout), binaries);
    match binaries.iter().find(|b| !found.contains_key(**b)) {
        Some(missing) => Err(Error::Build(BuildError::NoBinary {
            binary: (*missing).to_owned(),
            at: String::new(),
        })),
        None => Ok(found),
    }
}

/// The executables of `binaries` that cargo's JSON messages name.
fn executables(messages: &str, binaries: &[&str]) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    for message in messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
    {
        if let (Some(name), Some(exe)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            if binaries.contains(&name) {
                found.insert(name.to_owned(), PathBuf::from(exe));
            }
        }
    }
    found
}

/// `git ARGS` in `dir`: what it printed.
async fn git(dir: &Path, args: &[&str]) -> Result<String, Error> {
    let out = tokio::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .await
        .map_err(|source| {
            Error::Build(BuildError::Spawn {
                program: "git",
                dir: dir.to_owned(),
                source,
            })
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(Error::Build(BuildError::Git {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }))
    }
}

/// Build `binary` from a git ref, in a temporary worktree, with its own target folder.
pub(crate) async fn build_at_ref(
    root: &Path,
    reference: &str,
    binary: &str,
) -> Result<PathBuf, Error> {
    let top = PathBuf::from(git(root, &["rev-parse", "--show-toplevel"]).await?);
    let root = root.canonicalize().map_err(|source| {
        Error::Build(BuildError::Folder {
            path: root.to_owned(),
            source,
        })
    })?;
    let inside = root.strip_prefix(&top).unwrap_or(Path::new("")).to_owned();
    let clean = reference.replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    let worktree =
        std::env::temp_dir().join(format!("codedeploy-local-{clean}-{}", std::process::id()));
    let worktree_arg = worktree.display().to_string();
    git(
        &root,
        &[
            "worktree",
            "add",
            "--detach",
            "--force",
            &worktree_arg,
            reference,
        ],
    )
    .await?;
    let built = cargo_build(
        &worktree.join(&inside),
        &[binary],
        false,
        Some(&top.join("target").join("codedeploy-local-current")),
    )
    .await;
    let removed = git(&root, &["worktree", "remove", "--force", &worktree_arg]).await;
    let path = built?.remove(binary).ok_or_else(|| {
        Error::Build(BuildError::NoBinary {
            binary: binary.to_owned(),
            at: format!(" at {reference}"),
        })
    })?;
    removed?;
    Ok(path)
}
