"""`pip install .` (not editable) gives a working `intaj demo`: the wheel is built from the
project's files, installed into a fresh venv, and the demo runs from a directory outside the
checkout, reading the sample documents the wheel shipped (package data in intaj/examples/).

Installing every dependency from the registry into the fresh venv would take many minutes, so
the venv gets only the wheel (`--no-deps`) plus a .pth line naming the dev venv's
site-packages for the third-party packages; .pth files found there are not processed, so the
checkout's editable install cannot answer `import intaj`, and the test asserts it did not."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tomllib
import uuid
import zipfile
from pathlib import Path

from psycopg_pool import ConnectionPool

from core.settings import Settings
from db.connection import database_url
from pipeline.embed import Embedder

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = {"northwind-handbook.pdf", "northwind-policies.docx", "northwind-about.html",
           "faqs.csv", "demo-question.txt"}  # fmt: skip


def run(args: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs
    )  # type: ignore[call-overload]
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done  # type: ignore[no-any-return]


def build_wheel(tmp_path: Path) -> Path:
    """The wheel, built from a copy of what it is made of (an in-tree build would leave build/
    and *.egg-info in the checkout). The packages are those pyproject.toml names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for pattern in include:
        package = pattern.rstrip("*")
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "-w", dist, source])  # fmt: skip
    (wheel,) = dist.glob("*.whl")
    return wheel


def test_a_wheel_install_runs_the_demo_outside_the_checkout(
    tmp_path: Path, settings: Settings, pool: ConnectionPool, embedder: Embedder
) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        shipped = {Path(n).name for n in archive.namelist() if n.startswith("intaj/examples/")}
    assert shipped == SAMPLES  # the generator and its README stay in the checkout

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
         "--quiet", wheel])  # fmt: skip
    (venv_site,) = (venv / "lib").glob("python3*/site-packages")
    (venv_site / "_dev_dependencies.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n", encoding="utf-8"
    )

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "PYTHON", "VIRTUAL_ENV"))}  # fmt: skip
    env.update(
        DATABASE_URL=database_url(settings),
        INTAJ_HOME=str(settings.home),  # the session's: the model file is already built
        PREFECT_HOME=str(tmp_path / "prefect"),
        HF_HUB_OFFLINE="1",
    )
    where = run(
        [python, "-c", "import core, intaj, pipeline; print(intaj.__file__, pipeline.__file__)"],
        cwd=elsewhere,
        env=env,
    ).stdout.split()
    assert all(Path(p).is_relative_to(venv_site) for p in where), where

    chatbot = f"wheel-demo-{uuid.uuid4().hex[:8]}"
    try:
        demo = run([venv / "bin" / "intaj", "demo", "--chatbot", chatbot], cwd=elsewhere, env=env)
    finally:
        with pool.connection() as conn:
            conn.execute("DELETE FROM chatbots WHERE name = %s", (chatbot,))
    out = demo.stdout
    assert f"Ingesting 3 sample documents from {venv_site / 'intaj' / 'examples'}" in out
    question = (ROOT / "intaj" / "examples" / "demo-question.txt").read_text().strip()
    answer = out[out.index(f"Q: {question}") :]
    assert "northwind-handbook.pdf, page 3" in answer, out[-3000:]
