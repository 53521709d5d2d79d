"""Check that labkit's seed excerpts are verbatim extracts of the seed chapter's files.

    python tools/seed_excerpts.py --check ../shared/seeds   # exit 1 and list what differs
    python tools/seed_excerpts.py --sha256 [DIR]             # the hash tables for labkit/family/seed_texts.py

The seed chapter (five machine translations, see ``docs/source_outline.md``) is not part of the
repository; ``labkit.family.seed_texts.SEED_EXCERPTS`` carries one passage of it.  A maintainer who holds
the seed files runs ``--check`` on their folder: it compares every file with ``SEED_FILE_SHA256``,
re-extracts the passage with :func:`labkit.family.tokens.read_seeds` and compares it with the stored excerpt
and its ``SEED_SHA256``.  The tests (``tests/family/test_tokens.py``) check the stored excerpts against
``SEED_SHA256`` on every run, and this check on a seed folder they build from the excerpts, so they
need no file outside the clone.

After a deliberate re-extraction, ``--sha256 DIR`` prints the two tables to paste into
``labkit/family/seed_texts.py``.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from labkit import LabError  # noqa: E402
from labkit.family import tokens as T  # noqa: E402
from labkit.family.seed_texts import SEED_EXCERPTS, SEED_FILE_SHA256, SEED_FILES, SEED_SHA256  # noqa: E402

SEED_CODES = tuple(code for code, name in SEED_FILES.items() if name)   # "en" is the course's own


def sha256(data: str | bytes) -> str:
    """SHA-256 hex digest of bytes, or of a string's UTF-8."""
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def stored_problems() -> list[str]:
    """What is wrong with the stored excerpts alone: a missing or mismatched ``SEED_SHA256``."""
    problems = []
    if set(SEED_SHA256) != set(SEED_CODES) or set(SEED_FILE_SHA256) != set(SEED_CODES):
        problems.append(f"SEED_SHA256 / SEED_FILE_SHA256 must list exactly {sorted(SEED_CODES)}")
    for code in SEED_CODES:
        if code in SEED_SHA256 and sha256(SEED_EXCERPTS[code]) != SEED_SHA256[code]:
            problems.append(f"{code}: SEED_EXCERPTS[{code!r}] no longer has its recorded SHA-256 "
                            "(edited after extraction?)")
    return problems


def check(directory: str | Path, file_sha256: dict[str, str] | None = None) -> list[str]:
    """Everything that differs between the seed files in ``directory`` and labkit's records.

    An empty list means: the folder holds the files the excerpts were taken from, byte for byte
    (``file_sha256``, default ``SEED_FILE_SHA256``), and a fresh extraction gives every stored
    excerpt exactly.
    """
    directory = Path(directory)
    file_sha256 = SEED_FILE_SHA256 if file_sha256 is None else file_sha256
    problems = stored_problems()
    try:
        seeds = T.read_seeds(directory)
    except LabError as e:
        return problems + [e.cause]
    if set(seeds) != set(SEED_CODES):
        problems.append(f"languages found: {sorted(seeds)}; expected {sorted(SEED_CODES)}")
    for code in SEED_CODES:
        entry = seeds.get(code)
        if entry is None:
            continue
        if entry["file"] != SEED_FILES[code]:
            problems.append(f"{code}: extracted from {entry['file']}, SEED_FILES says {SEED_FILES[code]}")
        if entry["declared"] != code:
            problems.append(f"{code}: {entry['file']} declares language {entry['declared']!r}")
        digest = sha256((directory / entry["file"]).read_bytes())
        if digest != file_sha256.get(code):
            problems.append(f"{code}: {entry['file']} is not the file the excerpt was extracted from "
                            f"(SHA-256 {digest[:12]}…, recorded {file_sha256.get(code, '?')[:12]}…)")
        if entry["prose"] != SEED_EXCERPTS[code]:
            problems.append(f"{code}: a fresh extraction from {entry['file']} differs from SEED_EXCERPTS[{code!r}]")
    return problems


def hash_tables(directory: str | Path | None = None) -> str:
    """``SEED_SHA256`` (from the stored excerpts) and, given the seed folder, ``SEED_FILE_SHA256``."""
    lines = ["SEED_SHA256: dict[str, str] = {",
             *(f"    {code!r}: {sha256(SEED_EXCERPTS[code])!r}," for code in SEED_CODES), "}"]
    if directory is not None:
        lines += ["SEED_FILE_SHA256: dict[str, str] = {",
                  *(f"    {code!r}: {sha256((Path(directory) / SEED_FILES[code]).read_bytes())!r},"
                    for code in SEED_CODES), "}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--check", metavar="DIR", help="folder holding the seed files (*.txt)")
    group.add_argument("--sha256", metavar="DIR", nargs="?", const="", help="print the hash tables")
    args = parser.parse_args(argv)
    if args.check is not None:
        problems = check(args.check)
        for p in problems:
            print(f"FAIL: {p}")
        if not problems:
            print(f"ok: {len(SEED_CODES)} seed files match SEED_FILE_SHA256 and every excerpt "
                  f"({', '.join(SEED_CODES)}) is a verbatim extraction")
        return 1 if problems else 0
    print(hash_tables(args.sha256 or None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
