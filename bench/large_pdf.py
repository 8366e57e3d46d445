"""A 1,000-page PDF through `intaj ingest`: wall time and peak RSS of the ingesting process
(the bundled model included) and of its process tree (the sandboxed parser, Prefect's
ephemeral server). The budget: the ingesting process stays under 1.5 GB.

    python -m bench.large_pdf [--pages 1000] [--out bench/results/large_pdf.json]

Set INTAJ_EMBEDDING_BACKEND (torch, onnx...) to measure one embedding backend; the result
records which. The PDF is generated with reportlab into a temporary directory: numbered
chapters and sections of realistic prose (a bike shop's operations manual), about 330 words a
page. The run uses a fresh INTAJ_HOME, so its embedded database starts empty.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from bench.child import ROOT, dump, require_ok, run

BUDGET_MB = 1536
SUBJECTS = [
    "The rental desk", "Every mechanic", "The night shift", "A returning customer",
    "The harbour shop", "Our insurance partner", "The booking system", "Each group tour",
    "The spare parts store",
    "A cargo bike", "The children's fleet", "Staff on the weekend rota",
]  # fmt: skip
VERBS = [
    "checks", "records", "replaces", "cleans", "inspects", "photographs", "charges", "refunds",
    "schedules", "labels", "locks away", "hands over",
]  # fmt: skip
OBJECTS = [
    "the brake cables", "every helmet", "the deposit slip", "the battery pack", "the frame number",
    "the tyre pressure", "the damage report", "the booking voucher", "the saddle height",
    "the chain and sprockets", "the lights", "the route map",
]  # fmt: skip
TAILS = [
    "before the bike leaves the shop", "within ten minutes of the return",
    "at the end of every shift", "whenever the customer asks", "as the checklist on page two says",
    "unless the manager signs an exception", "and notes it in the log book",
    "so the next rider finds it ready",
]  # fmt: skip


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(TAILS)}."


def make_pdf(path: Path, pages: int, seed: int = 1) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    rng = random.Random(seed)
    pdf = canvas.Canvas(str(path), pagesize=A4)
    width, height = A4
    for page in range(1, pages + 1):
        y = height - 60
        if page % 20 == 1:
            pdf.setFont("Helvetica-Bold", 16)
            pdf.drawString(60, y, f"Chapter {page // 20 + 1}: Operations, part {page // 20 + 1}")
            y -= 30
        pdf.setFont("Helvetica-Bold", 12)
        pdf.drawString(60, y, f"Section {page}.1")
        y -= 20
        pdf.setFont("Helvetica", 10)
        while y > 80:
            words = " ".join(sentence(rng) for _ in range(rng.randint(2, 4))).split()
            line: list[str] = []
            for word in words:  # wrap at ~95 characters
                if sum(len(w) + 1 for w in line) + len(word) > 95:
                    pdf.drawString(60, y, " ".join(line))
                    y -= 13
                    line = []
                line.append(word)
            pdf.drawString(60, y, " ".join(line))
            y -= 22  # paragraph gap
        pdf.drawString(width / 2 - 20, 40, f"Page {page}")
        pdf.showPage()
    pdf.save()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "large_pdf.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="intaj-large-pdf-") as tmp:
        pdf = Path(tmp) / f"manual-{args.pages}-pages.pdf"
        started = time.perf_counter()
        make_pdf(pdf, args.pages)
        generated = time.perf_counter() - started
        intaj = str(Path(sys.executable).parent / "intaj")
        env = {"INTAJ_HOME": str(Path(tmp) / "home"), "INTAJ_PARSE_MAX_SECONDS": "600"}
        # Start the embedded database first, so its start is not in the measured run.
        require_ok(run([intaj, "db", "upgrade"], env=env), "intaj db upgrade")
        measured = require_ok(
            run([intaj, "ingest", str(pdf), "--chatbot", "large-pdf", "--json"], env=env),
            "intaj ingest",
        )
        source = json.loads(measured.stdout)["sources"][0]
        run([intaj, "db", "stop"], env=env)
        result = {
            "pages": args.pages,
            "embedding_backend": os.environ.get("INTAJ_EMBEDDING_BACKEND", "(default)"),
            "pdf_mb": round(pdf.stat().st_size / 2**20, 2),
            "generate_s": round(generated, 1),
            "ingest_wall_s": round(measured.wall_s, 1),
            "peak_rss_mb": round(measured.peak_rss_mb),
            "peak_tree_rss_mb": round(measured.peak_tree_rss_mb),
            "budget_mb": BUDGET_MB,
            "within_budget": measured.peak_rss_mb < BUDGET_MB,
            "chunks": source["chunks"],
            "embedded": source["embedded"],
            "status": source["status"],
        }
    dump(result, args.out)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
