"""Build the extra retrieval evaluation sets (bench/data/debian-faq, bench/data/pg-docs) from
public Debian documentation packages, as bench/data/python-faq was built from the Python FAQ.

    python -m bench.evalsets            # both sets; fetches the packages with apt-get download

For each set, ``questions.jsonl`` is written by hand (the questions are ours, paraphrased from
the text, never copied sentences): ``{"id", "question", "gold", "split"}`` where ``gold`` is
``PAGE#ID``, the page and the id of the section whose text answers it, and ``split`` is
``dev`` (tuned on, by cross-validation) or ``heldout`` (never tuned on). This script

1. fetches the package (``bench.corpus.fetch``: ``apt-get download`` + ``dpkg-deb -x``);
2. writes the knowledge base to ``html/``: each page's main content only; for the Debian FAQ
   the question headings (and the contents box, and the question titles repeated in cross
   references) are removed, as in the Python FAQ set, so that retrieval has to find the answer
   rather than match the question;
3. writes ``qa.jsonl``: each question with its gold ``answer_text`` (the section's text, its
   nested sections and heading excluded) and ``source_file``, in python-faq's format, so
   ``bench/scoring.py`` scores all sets by the same rule.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup, Tag

from bench.corpus import CORPUS, fetch

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class EvalSet:
    name: str
    package: str
    folder: str  # the pages' folder inside the unpacked package
    pages: tuple[str, ...]
    section_class: re.Pattern[str]  # the class of the <div> of a section
    strip_headings: bool  # FAQ: the headings are the questions


SETS = (
    EvalSet(
        name="debian-faq",
        package="debian-faq",
        folder="usr/share/doc/debian/FAQ",
        pages=tuple(
            f"{p}.en.html"
            for p in (
                "basic-defs",
                "compatibility",
                "software",
                "pkg-basics",
                "pkgtools",
                "uptodate",
                "customizing",
            )
        ),
        section_class=re.compile(r"^section$"),
        strip_headings=True,
    ),
    EvalSet(
        name="pg-docs",
        package="postgresql-doc-15",
        folder="usr/share/doc/postgresql-doc-15/html",
        pages=tuple(
            f"{p}.html"
            for p in (
                "routine-vacuuming",
                "indexes-types",
                "ddl-constraints",
                "backup-dump",
                "transaction-iso",
                "datatype-numeric",
                "explicit-locking",
            )
        ),
        section_class=re.compile(r"^sect\d$"),
        strip_headings=False,
    ),
)


def _sections(soup: BeautifulSoup, spec: EvalSet) -> list[Tag]:
    divs = soup.find_all("div")
    return [d for d in divs if any(spec.section_class.match(c) for c in d.get("class") or [])]


def _section_id(div: Tag) -> str | None:
    if div.get("id"):
        return str(div["id"])
    anchor = div.find(["h1", "h2", "h3", "h4"])
    link = anchor.find("a", id=True) if isinstance(anchor, Tag) else None
    return str(link["id"]) if isinstance(link, Tag) else None


def _without_navigation(html: str) -> BeautifulSoup:
    soup = BeautifulSoup(html, "html.parser")
    for junk in soup.select("div.navheader, div.navfooter, div.toc, script, style"):
        junk.decompose()
    return soup


def clean_page(html: str, spec: EvalSet) -> str:
    """The page as ingested: its main content; FAQ question headings and lists removed."""
    soup = _without_navigation(html)
    if spec.strip_headings:
        for div in _sections(soup, spec):
            title = div.find("div", class_="titlepage")
            if isinstance(title, Tag):
                title.decompose()
        for xref in soup.select("a.xref"):
            xref.string = xref.get_text().split(",")[0]  # "Section 7.2", not its question
            del xref["title"]
    return str(soup)


def section_text(div: Tag) -> str:
    """A section's own text: nested sections and its heading left out."""
    copy = BeautifulSoup(str(div), "html.parser")
    root = copy.find("div")
    assert isinstance(root, Tag)
    for child in root.find_all("div"):
        if child.decomposed:  # inside a section removed already
            continue
        classes = child.get("class") or []
        if child is not root and any(re.match(r"^(section|sect\d|titlepage)$", c) for c in classes):
            child.decompose()
    return root.get_text("\n")


def build(spec: EvalSet, root: Path) -> dict[str, int]:
    out = DATA / spec.name
    (out / "html").mkdir(parents=True, exist_ok=True)
    golds: dict[str, str] = {}
    for page in spec.pages:
        raw = (root / spec.folder / page).read_text(encoding="utf-8")
        soup = _without_navigation(raw)
        for div in _sections(soup, spec):
            sid = _section_id(div)
            if sid:
                golds[f"{page}#{sid}"] = section_text(div)
        (out / "html" / page).write_text(clean_page(raw, spec), encoding="utf-8")
    rows = []
    for line in (out / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        q = json.loads(line)
        if q["gold"] not in golds:
            raise SystemExit(f"{spec.name}: {q['id']} names an unknown section {q['gold']}")
        page = q["gold"].split("#")[0]
        rows.append({**q, "answer_text": golds[q["gold"]], "source_file": f"html/{page}"})
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    (out / "qa.jsonl").write_text(text, encoding="utf-8")
    return {s: sum(1 for r in rows if r["split"] == s) for s in ("dev", "heldout")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=[s.name for s in SETS])
    args = parser.parse_args()
    for spec in SETS:
        if args.only and spec.name != args.only:
            continue
        root = fetch({spec.package}, CORPUS / "debs")
        print(spec.name, build(spec, root))


if __name__ == "__main__":
    main()
