"""Run the README's rehearsal commands as a user would, with CI's prebuilt binaries: each
`cargo run -p codedeploy-local -- deploy ...` line becomes `target/debug/codedeploy-local
deploy ... --bin-dir target/debug` (the same program and arguments, without building twice).
The first rehearses the template and must succeed (exit 0); one that breaks the new version
(`--target-env HELLO_FAULT=...`) must stop it (exit 1).

Run: python3 tests/readme/commands.py   (after cargo build --workspace --bins)
"""

import pathlib
import re
import shlex
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PREFIX = "cargo run -p codedeploy-local -- "


def commands(readme):
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith(PREFIX)]


def main():
    found = commands((ROOT / "README.md").read_text())
    if not found:
        sys.exit("the README has no rehearsal command")
    failures = 0
    for command in found:
        args = shlex.split(command[len(PREFIX):])
        expected = 1 if any(a.startswith("HELLO_FAULT=") for a in args) else 0
        run = [str(ROOT / "target" / "debug" / "codedeploy-local"), *args,
               "--bin-dir", str(ROOT / "target" / "debug"), "--log-dir", str(ROOT / "target" / "readme-logs")]
        done = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=600)
        verdict = next((l for l in done.stderr.splitlines() if l.startswith("Verdict")), "no verdict")
        ok = done.returncode == expected
        failures += not ok
        print("%s exit %d (expected %d): %s\n  %s" % ("ok" if ok else "FAILED", done.returncode, expected, command, verdict))
        if not ok:
            print(done.stderr[-3000:])
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
