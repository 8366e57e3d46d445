"""Build the benchmark corpus from real public documents shipped in Debian packages.

    python -m bench.corpus --quick      # ~20 files, a few hundred chunks
    python -m bench.corpus --large      # ~450 files, ~25k chunks

Packages are fetched with ``apt-get download`` (no root install) and unpacked with
``dpkg-deb -x`` under ``bench/corpus/debs``; the chosen files are copied flat into
``bench/corpus/<set>/`` (``<package>__<path>.<ext>``), gzipped PDFs are unpacked, and DOCX files
are generated with python-docx from PostgreSQL documentation chapters. A ``manifest.json``
lists every file with its size and sha256. Nothing here is committed (bench/.gitignore).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.docx_gen import write_chapter_docx

BENCH = Path(__file__).resolve().parent
CORPUS = BENCH / "corpus"
PG_HTML = "usr/share/doc/postgresql-doc-15/html"
PY_HTML = "usr/share/doc/python3.11/html"


@dataclass(frozen=True)
class Pick:
    """Files of one package, by glob under the unpacked tree."""

    package: str
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class CorpusSpec:
    picks: tuple[Pick, ...]
    docx_chapters: tuple[str, ...]  # PostgreSQL doc file-name prefixes, one DOCX each


QUICK = CorpusSpec(
    picks=(
        Pick(
            "debian-refcard",
            ("usr/share/doc/debian-refcard/refcard-en-a4.pdf.gz",),
        ),
        Pick("glpk-doc", ("usr/share/doc/glpk-doc/cnfsat.pdf",)),
        Pick("grace", ("usr/share/doc/grace/Tutorial.pdf.gz",)),
        Pick("camlidl-doc", ("usr/share/doc/camlidl/camlidl-1.04.doc.pdf",)),
        Pick(
            "python3.11-doc",
            tuple(
                f"{PY_HTML}/tutorial/{page}.html"
                for page in ("introduction", "datastructures", "errors", "modules")
            ),
        ),
        Pick(
            "postgresql-doc-15",
            tuple(
                f"{PG_HTML}/tutorial-{page}.html"
                for page in (
                    "accessdb",
                    "agg",
                    "createdb",
                    "inheritance",
                    "join",
                    "select",
                    "transactions",
                    "window",
                )
            ),
        ),
    ),
    docx_chapters=("typeconv", "trigger"),
)

LARGE = CorpusSpec(
    picks=(
        Pick("debian-refcard", ("usr/share/doc/debian-refcard/refcard-en-*.pdf.gz",)),
        Pick("glpk-doc", ("usr/share/doc/glpk-doc/*.pdf",)),
        Pick("grace", ("usr/share/doc/grace/*.pdf.gz",)),
        Pick("camlidl-doc", ("usr/share/doc/camlidl/*.pdf",)),
        Pick("asymptote-doc", ("usr/share/doc/asymptote/*.pdf",)),
        Pick("xfig-doc", ("usr/share/doc/xfig/*.pdf",)),
        Pick("octave-doc", ("usr/share/doc/octave/*.pdf",)),
        Pick("pari-doc", ("usr/share/pari/doc/*.pdf",)),
        Pick("r-doc-pdf", ("usr/share/R/doc/manual/R-*.pdf",)),
        Pick(
            "python3.11-doc",
            (
                f"{PY_HTML}/tutorial/*.html",
                f"{PY_HTML}/howto/*.html",
                f"{PY_HTML}/reference/*.html",
            ),
        ),
        Pick(
            "postgresql-doc-15",
            (f"{PG_HTML}/tutorial*.html", f"{PG_HTML}/sql-*.html", f"{PG_HTML}/queries*.html"),
        ),
    ),
    docx_chapters=(
        "ddl",
        "datatype",
        "textsearch",
        "indexes",
        "mvcc",
        "perform",
        "runtime",
        "auth",
        "manage",
        "charset",
        "routine",
        "backup",
        "high",
        "monitoring",
        "wal",
        "logical",
        "plpgsql",
        "trigger",
        "rules",
        "xfunc",
        "typeconv",
        "extend",
        "fdw",
        "tablesample",
        "gist",
        "gin",
        "brin",
        "storage",
    ),
)

SETS = {"quick": QUICK, "large": LARGE}


def _packages(spec: CorpusSpec) -> set[str]:
    needed = {p.package for p in spec.picks}
    if spec.docx_chapters:
        needed.add("postgresql-doc-15")
    return needed


def fetch(packages: set[str], debs: Path) -> Path:
    """Download and unpack ``packages`` (once each) into ``debs/root``; returns that root."""
    root = debs / "root"
    root.mkdir(parents=True, exist_ok=True)
    for package in sorted(packages):
        marker = debs / f"{package}.unpacked"
        if marker.exists():
            continue
        before = set(debs.glob("*.deb"))
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True)
        new = sorted(set(debs.glob("*.deb")) - before) or sorted(debs.glob(f"{package}_*.deb"))
        for deb in new:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        marker.write_text("\n".join(d.name for d in new), encoding="utf-8")
    return root


def _flat_name(package: str, relative: str) -> str:
    """``.../python3.11/html/tutorial/errors.html`` -> ``python3.11-doc__tutorial__errors.html``;
    outside an ``html`` tree only the file name is kept."""
    parts = Path(relative).parts
    tail = parts[parts.index("html") + 1 :] if "html" in parts else parts[-1:]
    return "__".join((package, *tail)).removesuffix(".gz")


def _picked(root: Path, spec: CorpusSpec) -> Iterator[tuple[Pick, Path]]:
    for pick in spec.picks:
        for pattern in pick.patterns:
            for path in sorted(root.glob(pattern)):
                if path.is_file() and path.stat().st_size > 0:
                    yield pick, path


def build(name: str, *, dest: Path = CORPUS) -> Path:
    """Build corpus ``name`` ("quick" or "large") and return its folder."""
    spec = SETS[name]
    root = fetch(_packages(spec), dest / "debs")
    out = dest / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for pick, path in _picked(root, spec):
        target = out / _flat_name(pick.package, str(path.relative_to(root)))
        if path.suffix == ".gz":
            target.write_bytes(gzip.decompress(path.read_bytes()))
        else:
            shutil.copyfile(path, target)
    for chapter in spec.docx_chapters:
        pages = sorted((root / PG_HTML).glob(f"{chapter}*.html"))
        if pages:
            write_chapter_docx(pages, out / f"postgresql-doc-15__{chapter}.docx")
    write_manifest(out)
    return out


def write_manifest(folder: Path) -> dict[str, object]:
    files = [
        {
            "name": p.name,
            "type": p.suffix.lstrip("."),
            "bytes": p.stat().st_size,
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
        }
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != "manifest.json"
    ]
    manifest: dict[str, object] = {"files": files, "count": len(files)}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def corpus_files(folder: Path) -> list[Path]:
    """The documents of a built corpus, in manifest order."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return [folder / f["name"] for f in manifest["files"]]


def ensure(name: str, *, dest: Path = CORPUS) -> Path:
    """The corpus folder, built first when missing."""
    folder = dest / name
    if not (folder / "manifest.json").exists():
        build(name, dest=dest)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_const", const="quick", dest="set")
    group.add_argument("--large", action="store_const", const="large", dest="set")
    parser.add_argument("--dest", type=Path, default=CORPUS)
    args = parser.parse_args()
    folder = build(args.set or "quick", dest=args.dest)
    files = corpus_files(folder)
    kinds = sorted({f.suffix for f in files})
    print(f"{folder}: {len(files)} files ({', '.join(kinds)})")


if __name__ == "__main__":
    main()
