"""Build the README's quick start as a user would paste it: its `[dependencies]` block and its
`src/main.rs`, in a new crate outside the workspace, with `codedeploy-hooks` patched to this
checkout (it resolves `codedeploy-hooks = "0.1"` to the local crate).

Run: python3 tests/readme/quickstart.py  (uses the workspace's target directory)
"""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECTION = "## A hook in 20 lines"


def blocks(readme):
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    toml = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    rust = re.search(r"```rust\n(.*?)```", section, re.S).group(1)
    return toml, rust


def main():
    toml, rust = blocks((ROOT / "README.md").read_text())
    crate = ROOT / "target" / "readme-quickstart"
    (crate / "src").mkdir(parents=True, exist_ok=True)
    hooks = (ROOT / "crates" / "codedeploy-hooks").as_posix()
    macros = (ROOT / "crates" / "codedeploy-hooks-macros").as_posix()
    (crate / "Cargo.toml").write_text(
        '[package]\nname = "my-hook"\nversion = "0.1.0"\nedition = "2021"\n\n'
        + toml
        + '\n[patch.crates-io]\ncodedeploy-hooks = { path = "%s" }\ncodedeploy-hooks-macros = { path = "%s" }\n' % (hooks, macros)
        # Its own workspace: it sits below this one's folder but is not a member.
        + "\n[workspace]\n"
    )
    (crate / "src" / "main.rs").write_text(rust)
    env = dict(os.environ, CARGO_TARGET_DIR=str(ROOT / "target"))
    # `cargo check`: what a paste can get wrong is caught by the compiler's checks; a full
    # build would link a second copy of every dependency (its own lockfile and features),
    # over a gigabyte of a CI disk that may be short.
    result = subprocess.run(["cargo", "check", "--quiet"], cwd=crate, env=env)
    if result.returncode != 0:
        sys.exit("the README's quick start does not build as pasted (see above)")
    print("the README's quick start builds as pasted")


if __name__ == "__main__":
    main()
