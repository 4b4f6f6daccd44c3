"""MkDocs hook: one API reference page per public module, generated from the source tree.

Every module of ``neuro`` whose name does not start with ``_`` (and of ``neuro.models`` /
``neuro.tasks``) gets ``api/<module>.md``, so the reference follows the code without a
hand-kept list; mkdocstrings renders the numpydoc docstrings. ``neuro.models`` and
``neuro.tasks`` live in ``models/`` and ``tasks/`` and are mapped into ``neuro`` by the package
metadata, which static analysis does not follow: their pages read the source packages
``models`` / ``tasks`` and are titled with the installed names.
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
TREES = {"neuro": "neuro", "neuro.models": "models", "neuro.tasks": "tasks"}


def modules() -> list[tuple[str, str]]:
    """``(installed name, source name)`` of every public module."""
    names = set()
    for prefix, folder in TREES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if any(p.startswith("_") for p in parts) or parts[:1] == ["cli"]:
                continue
            names.add((".".join([prefix, *parts]), ".".join([folder, *parts])))
    return sorted(names)


def on_files(files, config):
    for name, source in modules():
        content = f"# `{name}`\n\n::: {source}\n"
        if name != source:
            content += f"    options:\n      heading: \"{name}\"\n      toc_label: \"{name}\"\n"
        files.append(File.generated(config, f"api/{name}.md", content=content))
    return files
