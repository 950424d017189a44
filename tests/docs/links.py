"""Every relative link and `#anchor` in README.md and docs/*.md resolves (offline).

Anchors are GitHub's: a heading's text, lowercased, without punctuation other than `-` and
`_`, spaces made `-`, and `-1`, `-2`, ... for repeats. Links inside code are not links.

Run: python3 tests/docs/links.py   (exits 1 naming each broken link)
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)\)")


def prose(text):
    """The text outside fenced code blocks and inline code."""
    out, fenced = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(out)


def anchors(path):
    seen, found = {}, set()
    fenced = False
    for line in path.read_text().split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        m = None if fenced else re.match(r"^#{1,6} (.*)$", line)
        if not m:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1)).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else "%s-%d" % (slug, n))
    return found


def broken(path):
    for target in LINK.findall(prose(path.read_text())):
        if re.match(r"^[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            yield "%s: %s: no such file" % (path.relative_to(ROOT), target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            yield "%s: %s: no such heading in %s" % (path.relative_to(ROOT), target, dest.relative_to(ROOT))


def main():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    problems = [p for f in files for p in broken(f)]
    for p in problems:
        print(p)
    print("%d files, %d broken links" % (len(files), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
