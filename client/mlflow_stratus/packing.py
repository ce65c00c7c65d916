"""Packing a project folder into the gzipped tar that the runner unpacks.

Which files: in a git work tree, those ``git ls-files --cached --others --exclude-standard`` lists (tracked files
and untracked ones that no ignore rule excludes); elsewhere, every file that the folder's ``.gitignore`` files do not
exclude. ``.git`` is never packed. Members are named relative to the project root; a symlink is kept only when it
points inside the project.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_stratus.gitignore import IgnoreRules, parse_gitignore

_logger = logging.getLogger(__name__)

#: Past this size a package is uploaded in parts (any size S3 takes), but the job downloads it all before it starts:
#: a warning suggests keeping data out of the project.
LARGE_PACKAGE_BYTES = 1024**3


@dataclass(frozen=True)
class PackedProject:
    """A packed project: the tarball's path, how many members it has and its size in bytes."""

    path: Path
    members: int
    size: int


def pack_project(root: str | os.PathLike[str], destination: str | os.PathLike[str]) -> PackedProject:
    """Write the project folder ``root`` as a gzipped tar to ``destination``."""
    root_path = Path(root).resolve()
    destination_path = Path(destination)
    names = project_files(root_path)
    with tarfile.open(destination_path, "w:gz") as tar:
        for name in names:
            _add_member(tar, root_path, name)
    size = destination_path.stat().st_size
    if size > LARGE_PACKAGE_BYTES:
        _logger.warning(
            "the packed project is %d bytes; every job downloads it before it starts: list large data files in "
            ".gitignore and read them from S3 in the entry point instead",
            size,
        )
    _logger.info("packed project %s: %d files, %d bytes", root_path, len(names), size)
    return PackedProject(path=destination_path, members=len(names), size=size)


def project_files(root: str | os.PathLike[str]) -> list[str]:
    """The files to pack, as sorted posix paths relative to ``root``."""
    root_path = Path(root).resolve()
    names = _git_files(root_path)
    if not names:
        # Not a work tree, no git, or git lists nothing (the folder is itself ignored by an enclosing repository).
        names = _walk(root_path)
    return sorted({name for name in names if ".git" not in name.split("/")})


def _git_files(root: Path) -> list[str] | None:
    git = shutil.which("git")
    if git is None:
        return None
    probe = subprocess.run(
        [git, "-C", str(root), "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0 or probe.stdout.strip() != "true":
        return None
    listed = subprocess.run(
        [git, "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout
    names = []
    for name in os.fsdecode(listed).split("\0"):
        path = root / name
        if not name or not os.path.lexists(path):
            continue  # tracked but deleted from the work tree
        if path.is_dir() and not path.is_symlink():
            # A submodule: git lists its folder, so take its files as a plain folder's.
            names.extend(f"{name}/{inner}" for inner in _walk(path))
        else:
            names.append(name)
    return names


def _walk(root: Path) -> list[str]:
    names: list[str] = []
    _walk_folder(root, "", IgnoreRules(), names)
    return names


def _walk_folder(root: Path, folder: str, rules: IgnoreRules, names: list[str]) -> None:
    directory = root / folder if folder else root
    gitignore = directory / ".gitignore"
    if gitignore.is_file():
        rules = rules.extended(parse_gitignore(gitignore.read_text(encoding="utf-8", errors="replace"), folder))
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda item: item.name):
            if entry.name == ".git":
                continue
            name = f"{folder}/{entry.name}" if folder else entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            # Folders above this one were looked at on the way down, so only the entry itself is left to match.
            if rules.matches(name, is_dir):
                continue
            if is_dir:
                _walk_folder(root, name, rules, names)
            else:
                names.append(name)


def _add_member(tar: tarfile.TarFile, root: Path, name: str) -> None:
    if name.startswith("/") or ".." in name.split("/"):
        raise MlflowException(f"Refusing to pack {name!r}: not inside the project", error_code=INVALID_PARAMETER_VALUE)
    path = root / name
    if path.is_symlink():
        tar.addfile(_symlink_member(root, name))
    elif path.is_file():
        tar.add(path, arcname=name, recursive=False, filter=_anonymous)
    else:
        _logger.debug("not packing %s: neither a file nor a symlink", name)


def _symlink_member(root: Path, name: str) -> tarfile.TarInfo:
    path = root / name
    target = path.parent.resolve() / os.readlink(path)
    resolved = target.resolve()
    if not resolved.is_relative_to(root):
        raise MlflowException(
            f"The project's symlink {name} points outside the project ({os.readlink(path)}); the job could not "
            "follow it. Copy what it points to into the project, or list the link in .gitignore",
            error_code=INVALID_PARAMETER_VALUE,
        )
    member = tarfile.TarInfo(name)
    member.type = tarfile.SYMTYPE
    member.linkname = Path(os.path.relpath(resolved, path.parent.resolve())).as_posix()
    member.mode = 0o777
    member.mtime = int(path.lstat().st_mtime)
    return member


def _anonymous(member: tarfile.TarInfo) -> tarfile.TarInfo:
    # The laptop's user and group mean nothing in the job's container.
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member
