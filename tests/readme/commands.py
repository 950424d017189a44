"""Run the rehearsal commands of the README and the guide (`docs/`) as a user would, with
CI's prebuilt binaries: each `cargo run -p codedeploy-local -- deploy ...` becomes
`target/debug/codedeploy-local deploy ... --bin-dir target/debug` (the same program and
arguments, without building twice). Its exit code must be what the page says: a trailing
`# Succeeded` or `# Failed` comment, else 1 when it breaks the new version
(`--target-env HELLO_FAULT=...`), else 0. `serve` commands, which run until stopped, are
left to the conformance suite; commands that need AWS (`sam deploy`, `serverless deploy`)
cannot run here.

Run: python3 tests/readme/commands.py   (after cargo build --workspace --bins)
"""

import pathlib
import re
import shlex
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PREFIX = "cargo run -p codedeploy-local -- deploy"


def commands(text):
    """The deploy commands of a page's `sh` blocks, continuation lines joined, with the
    comment that follows each."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith(PREFIX):
                command, _, comment = line.partition("#")
                found.append((command.strip(), comment.strip()))
    return found


def expected(args, comment):
    if comment.startswith("Succeeded"):
        return 0
    if comment.startswith("Failed"):
        return 1
    return 1 if any(a.startswith("HELLO_FAULT=") for a in args) else 0


def main():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    seen, failures = set(), 0
    for page in pages:
        for command, comment in commands(page.read_text()):
            if command in seen:
                continue
            seen.add(command)
            args = shlex.split(command[len("cargo run -p codedeploy-local -- "):])
            want = expected(args, comment)
            run = [str(ROOT / "target" / "debug" / "codedeploy-local"), *args,
                   "--bin-dir", str(ROOT / "target" / "debug"),
                   "--log-dir", str(ROOT / "target" / "readme-logs")]
            done = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=600)
            verdict = next((l for l in done.stderr.splitlines() if l.startswith("Verdict")), "no verdict")
            ok = done.returncode == want
            failures += not ok
            print("%s %s: exit %d (expected %d): %s\n  %s" % (
                "ok" if ok else "FAILED", page.relative_to(ROOT), done.returncode, want, command, verdict[:300]))
            if not ok:
                print(done.stderr[-3000:])
    if not seen:
        sys.exit("no rehearsal command found")
    print("%d commands run, %d failed" % (len(seen), failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
