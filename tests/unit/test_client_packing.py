"""Packing a project for the stratus backend: which files go into the tarball, and how they are named."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException
from mlflow_stratus.gitignore import IgnoreRules, parse_gitignore
from mlflow_stratus.packing import pack_project, project_files


def _ignored(gitignore: str, path: str, is_dir: bool = False, base: str = "") -> bool:
    return IgnoreRules(parse_gitignore(gitignore, base)).ignores(path, is_dir)


@pytest.mark.parametrize(
    ("gitignore", "path", "is_dir", "expected"),
    [
        # blank lines and comments are not patterns; "\#" is a literal "#"
        ("\n# a.txt\n", "a.txt", False, False),
        ("\\#a.txt", "#a.txt", False, True),
        # a pattern without a slash matches at any depth
        ("*.log", "run.log", False, True),
        ("*.log", "deep/down/run.log", False, True),
        ("*.log", "run.log.txt", False, False),
        # "?" is one character, never "/"
        ("file?.txt", "file1.txt", False, True),
        ("file?.txt", "file10.txt", False, False),
        ("a?b", "a/b", False, False),
        # "*" does not cross folders
        ("src/*.py", "src/a.py", False, True),
        ("src/*.py", "src/sub/a.py", False, False),
        # a leading or middle slash anchors the pattern to the .gitignore's folder
        ("/build", "build", True, True),
        ("/build", "sub/build", True, False),
        ("docs/out", "docs/out", False, True),
        ("docs/out", "x/docs/out", False, False),
        # a trailing slash matches folders only, and everything under them
        ("cache/", "cache", True, True),
        ("cache/", "cache", False, False),
        ("cache/", "a/cache/b/c.txt", False, True),
        # "**"
        ("**/logs", "logs", True, True),
        ("**/logs", "a/b/logs", True, True),
        ("a/**/b", "a/b", False, True),
        ("a/**/b", "a/x/y/b", False, True),
        ("a/**/b", "a/x/y/c", False, False),
        ("data/**", "data", True, False),
        ("data/**", "data/x/y.csv", False, True),
        # character classes
        ("[abc].txt", "b.txt", False, True),
        ("[!abc].txt", "b.txt", False, False),
        ("[!abc].txt", "d.txt", False, True),
        ("[0-9]*.csv", "7days.csv", False, True),
        # negation: the last matching rule wins
        ("*.csv\n!keep.csv", "keep.csv", False, False),
        ("*.csv\n!keep.csv", "drop.csv", False, True),
        ("!keep.csv\n*.csv", "keep.csv", False, True),
        ("\\!x", "!x", False, True),
        # nothing comes back from under an ignored folder
        ("out/\n!out/keep.txt", "out/keep.txt", False, True),
        # trailing spaces are dropped unless escaped
        ("a.txt   ", "a.txt", False, True),
        ("a\\ ", "a ", False, True),
    ],
)
def test_gitignore_patterns(gitignore: str, path: str, is_dir: bool, expected: bool) -> None:
    assert _ignored(gitignore, path, is_dir) is expected


def test_gitignore_rules_apply_under_their_own_folder_only() -> None:
    assert _ignored("/local.txt", "sub/local.txt", base="sub")
    assert not _ignored("/local.txt", "local.txt", base="sub")
    assert not _ignored("*.txt", "other/a.txt", base="sub")


def test_a_deeper_gitignore_overrides_a_shallower_one() -> None:
    rules = IgnoreRules(parse_gitignore("*.csv")).extended(parse_gitignore("!*.csv", "keep"))

    assert rules.ignores("a.csv", False)
    assert not rules.ignores("keep/a.csv", False)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def _members(tarball: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(tarball, "r:gz") as tar:
        return {member.name: member for member in tar.getmembers()}


def test_plain_folder_honours_nested_gitignores_and_negations(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _write(
        project,
        {
            "MLproject": "name: p",
            "train.py": "",
            ".gitignore": "*.csv\n!keep.csv\ndata/\n__pycache__/\n",
            "keep.csv": "",
            "drop.csv": "",
            "data/big.bin": "",
            "__pycache__/train.cpython-311.pyc": "",
            "sub/.gitignore": "!local.csv\n/scratch.txt\n",
            "sub/local.csv": "",
            "sub/other.csv": "",
            "sub/scratch.txt": "",
            "sub/deeper/scratch.txt": "",
            ".git/config": "",
            "sub/.git": "gitdir: elsewhere",
        },
    )

    assert project_files(project) == [
        ".gitignore",
        "MLproject",
        "keep.csv",
        "sub/.gitignore",
        "sub/deeper/scratch.txt",
        "sub/local.csv",
        "train.py",
    ]


git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(cwd: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@x"
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env=env)


@git
def test_git_work_tree_packs_tracked_and_unignored_untracked_files(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _write(
        repo,
        {
            "MLproject": "name: p",
            "train.py": "",
            ".gitignore": "*.log\nbuild/\n",
            "forced.log": "",
            "run.log": "",
            "build/out.bin": "",
            "notes/new.txt": "",
        },
    )
    _git(repo, "init", "-q")
    _git(repo, "add", "MLproject", "train.py", ".gitignore")
    _git(repo, "add", "-f", "forced.log")
    _git(repo, "commit", "-q", "-m", "init")
    (repo / "train.py").unlink()  # tracked, deleted from the work tree

    assert project_files(repo) == [".gitignore", "MLproject", "forced.log", "notes/new.txt"]


@git
def test_project_in_a_subfolder_of_a_repository_is_named_from_its_own_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _write(repo, {"README.md": "", ".gitignore": "*.pyc\n", "examples/wine/MLproject": "", "examples/wine/a.pyc": ""})
    _git(repo, "init", "-q")

    assert project_files(repo / "examples" / "wine") == ["MLproject"]


@git
def test_project_folder_ignored_by_its_repository_falls_back_to_its_own_gitignores(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    _write(repo, {".gitignore": "scratch/\n", "scratch/p/MLproject": "", "scratch/p/.gitignore": "*.tmp\n"})
    _write(repo, {"scratch/p/x.tmp": ""})
    _git(repo, "init", "-q")

    assert project_files(repo / "scratch" / "p") == [".gitignore", "MLproject"]


def test_tarball_names_are_relative_and_round_trip(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _write(project, {"MLproject": "name: p", "pkg/mod.py": "print(1)", ".git/HEAD": "ref"})

    packed = pack_project(project, tmp_path / "p.tar.gz")

    members = _members(packed.path)
    assert sorted(members) == ["MLproject", "pkg/mod.py"]
    assert packed.members == 2 and packed.size == (tmp_path / "p.tar.gz").stat().st_size
    assert all(member.uid == 0 and member.uname == "" for member in members.values())
    with tarfile.open(packed.path, "r:gz") as tar:
        assert tar.extractfile("pkg/mod.py").read() == b"print(1)"


def test_symlink_inside_the_project_is_kept_as_a_relative_link(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _write(project, {"MLproject": "", "data/real.csv": "1"})
    (project / "link.csv").symlink_to(project / "data" / "real.csv")  # absolute target, inside the project

    member = _members(pack_project(project, tmp_path / "p.tar.gz").path)["link.csv"]

    assert member.issym() and member.linkname == "data/real.csv"


def test_symlink_escaping_the_project_is_refused(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _write(project, {"MLproject": "", "../outside.csv": "secret"})
    (project / "data").symlink_to("../outside.csv")

    with pytest.raises(MlflowException, match="symlink data points outside the project") as raised:
        pack_project(project, tmp_path / "p.tar.gz")
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"


def test_ignored_escaping_symlink_is_not_looked_at(tmp_path: Path) -> None:
    project = tmp_path / "project"
    _write(project, {"MLproject": "", ".gitignore": "data\n"})
    (project / "data").symlink_to("/")

    assert sorted(_members(pack_project(project, tmp_path / "p.tar.gz").path)) == [".gitignore", "MLproject"]
