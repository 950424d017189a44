"""The example functions' Lambda zips, as `zip -9` of each release binary named `bootstrap`:
their sizes, and a failure when a hook's zip passes 3.5 MB (a margin above the 3 MB goal,
so that no dependency creeps in unseen) or `hello`'s passes 1 MB.

Run after `cargo build --profile function -p hello -p pre-traffic -p post-traffic` (the
profile the functions ship with):
    python3 tests/size/hook_zips.py [target/function]
"""

import io
import pathlib
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
LIMITS = {"pre-traffic": 3.5e6, "post-traffic": 3.5e6, "hello": 1.0e6}


def zipped(binary):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo("bootstrap")
        info.external_attr = 0o755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, binary.read_bytes(), compresslevel=9)
    return len(buffer.getvalue())


def main(argv):
    release = pathlib.Path(argv[0]) if argv else ROOT / "target" / "function"
    over = []
    for name, limit in LIMITS.items():
        binary = release / name
        if not binary.is_file():
            sys.exit(f"{binary} is missing: build the release binaries first")
        size = zipped(binary)
        print(f"{name}: binary {binary.stat().st_size / 1e6:.2f} MB, zip {size / 1e6:.2f} MB (limit {limit / 1e6:.1f} MB)")
        if size > limit:
            over.append(name)
    if over:
        sys.exit(f"over the size limit: {', '.join(over)}; see `cargo bloat --release -p NAME --crates`")


if __name__ == "__main__":
    main(sys.argv[1:])
