"""The repository stands alone: no tracked file cites a document kept outside it, and every relative link in its
Markdown (README.md, docs/*.md) leads to a file of the repository, to a heading that exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"

# Documents that were never part of the repository, and the folder beside it that held them. Written so that the
# patterns do not match their own text in this file.
OUTSIDE = re.compile(r"\b(?:DESIGN|FACTS|STYLE)\.md\b|\bengagement[-]report\b|\.\./shared\b|\bshared[/]domain\b")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
# How code and documents cite the design: "docs/design.md, <heading>", the heading ending the phrase.
CITATION = re.compile(r"docs/design\.md, ([A-Z][^.,;:()\"'`\n]*[^.,;:()\"'`\s])")


def _tracked() -> list[str]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: no list of tracked files")
    return [name for name in listed.decode().split("\0") if name]


def _text(name: str) -> str | None:
    """A tracked file's text, or None for a binary file (or one deleted from the working tree)."""
    try:
        data = (ROOT / name).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _prose(markdown: str) -> str:
    """Markdown without its code blocks and code spans, where brackets are code, not links."""
    return CODE_SPAN.sub("", FENCE.sub("", markdown))


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every heading's anchor in a Markdown text (a repeated heading gets -1, -2... as on GitHub)."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", markdown)):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def test_no_tracked_file_cites_a_document_outside_the_repository():
    found = []
    for name in _tracked():
        text = _text(name)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            found += [f"{name}:{number}: {match.group(0)}" for match in OUTSIDE.finditer(line)]
    assert not found, "cited outside the repository:\n" + "\n".join(found)


def test_every_relative_link_in_the_markdown_leads_to_a_file_of_the_repository():
    tracked = set(_tracked())
    folders = {parent.as_posix() for name in tracked for parent in Path(name).parents}  # "." is the root
    documents = ["README.md", *sorted(n for n in tracked if n.startswith("docs/") and n.endswith(".md"))]
    broken = []
    checked = 0
    for document in documents:
        source = ROOT / document
        text = source.read_text(encoding="utf-8")
        for target in LINK.findall(_prose(text)):
            if SCHEME.match(target):
                continue  # a web address: not this test's business
            path, _, fragment = target.partition("#")
            resolved = (source.parent / unquote(path)).resolve() if path else source
            checked += 1
            try:
                name = resolved.relative_to(ROOT).as_posix()
            except ValueError:
                broken.append(f"{document}: {target} leads outside the repository")
                continue
            if name not in tracked and name not in folders:
                broken.append(f"{document}: {target} is not a tracked file of the repository")
            elif fragment and name.endswith(".md") and fragment not in anchors(resolved.read_text(encoding="utf-8")):
                broken.append(f"{document}: {target} names no heading of {name}")
    assert not broken, "\n".join(broken)
    assert checked > 0, "no relative link found: is the pattern still right?"


def test_every_citation_of_the_design_names_one_of_its_headings():
    headings = {h for h in HEADING.findall(FENCE.sub("", DESIGN.read_text(encoding="utf-8")))}
    unknown = []
    for name in _tracked():
        text = _text(name)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            unknown += [f"{name}:{number}: {c}" for c in CITATION.findall(line) if c not in headings]
    assert not unknown, "not a heading of docs/design.md:\n" + "\n".join(unknown)
