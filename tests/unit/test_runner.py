"""The project runner (runner/stratus_runner): safe extraction of the package, the entry point's command as MLflow
computes it, and the entry point's exit code (and signals) passed through."""

from __future__ import annotations

import io
import shutil
import signal
import tarfile
import threading
from pathlib import Path

import pytest

import stratus_runner
from stratus_runner import (
    RUNNER_ERROR_EXIT,
    RunnerError,
    entry_point_command,
    load_project,
    run_command,
    safe_extract,
)

WINE_PROJECT = Path(__file__).resolve().parents[2] / "examples" / "wine_project"


def _tar(path: Path, *members: tuple[str, str, str]) -> Path:
    """A gzipped tar of (kind, name, content-or-link-target) members; kind is file, dir, symlink or hardlink."""
    with tarfile.open(path, "w:gz") as tar:
        for kind, name, value in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = value.encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[kind]
            info.linkname = value
            tar.addfile(info)
    return path


def _job_environment(**overrides: str) -> dict[str, str]:
    return {
        "STRATUS_PROJECT_PACKAGE_URI": "s3://bucket/projects/packages/p.tar.gz",
        "STRATUS_PROJECT_ENTRY_POINT": "main",
        "STRATUS_PROJECT_PARAMETERS": "{}",
        "STRATUS_PROJECT_ENV_MANAGER": "local",
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:1",
        "MLFLOW_RUN_ID": "0" * 32,
        "MLFLOW_EXPERIMENT_ID": "1",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        **overrides,
    }


def _serve_package(monkeypatch: pytest.MonkeyPatch, archive: Path) -> None:
    """The package "downloaded" from a local file: everything after the S3 read runs as in the job."""

    def download(uri: str, destination: Path) -> Path:
        shutil.copy(archive, destination)
        return destination

    monkeypatch.setattr(stratus_runner, "download_package", download)


# -- extraction -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (("file", "../outside.py", "x"), "outside the project folder"),
        (("file", "project/../../outside.py", "x"), "outside the project folder"),
        (("file", "/etc/cron.d/job", "x"), "absolute path"),
        (("symlink", "project/passwd", "/etc/passwd"), "link to an absolute path"),
        (("symlink", "project/up", "../../.."), "link out of the project folder"),
        (("hardlink", "project/shadow", "../shadow"), "link out of the project folder"),
    ],
)
def test_safe_extract_refuses_members_that_escape_the_folder(
    tmp_path: Path, member: tuple[str, str, str], reason: str
) -> None:
    archive = _tar(tmp_path / "p.tar.gz", ("file", "project/MLproject", "name: p\n"), member)
    with pytest.raises(RunnerError, match=reason):
        safe_extract(archive, tmp_path / "work")
    assert not (tmp_path / "outside.py").exists()
    assert not (tmp_path / "work" / "project").exists()  # nothing is extracted from an unsafe package


def test_safe_extract_returns_the_single_top_folder_and_keeps_links_inside(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "p.tar.gz",
        ("dir", "wine", ""),
        ("file", "wine/MLproject", "name: wine\n"),
        ("file", "wine/data/a.csv", "1,2\n"),
        ("symlink", "wine/latest.csv", "data/a.csv"),
    )
    project_dir = safe_extract(archive, tmp_path / "work")
    assert project_dir == (tmp_path / "work" / "wine").resolve()
    assert (project_dir / "latest.csv").read_text() == "1,2\n"


def test_safe_extract_of_files_at_the_top_returns_the_folder_itself(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "p.tar.gz", ("file", "MLproject", "name: p\n"), ("file", "train.py", ""))
    assert safe_extract(archive, tmp_path / "work") == (tmp_path / "work").resolve()


def test_a_project_of_one_folder_without_mlproject_keeps_its_root(tmp_path: Path) -> None:
    """Its entry point is then a script path from the root (``mlflow run . -e src/train.py``)."""
    archive = _tar(tmp_path / "p.tar.gz", ("file", "src/train.py", ""))
    assert safe_extract(archive, tmp_path / "work") == (tmp_path / "work").resolve()


def test_a_package_that_is_not_a_tar_is_refused_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.tar.gz").write_bytes(b"<html>not a package</html>")
    _serve_package(monkeypatch, tmp_path / "p.tar.gz")
    assert stratus_runner.main(_job_environment()) == RUNNER_ERROR_EXIT
    assert "stratus-runner: error: the project package is not a readable tar archive" in capsys.readouterr().err


# -- the command ------------------------------------------------------------------------------------------------------


def test_the_command_is_mlflows_with_defaults_and_given_parameters() -> None:
    project = load_project(WINE_PROJECT)
    assert entry_point_command(project, "main", {"alpha": "0.3"}) == (
        "python train.py --alpha 0.3 --l1-ratio 0.1 --max-iter 1000"
    )
    assert entry_point_command(project, "fail", {}) == "python fail.py --code 3"


def test_parameters_are_shell_quoted_and_extra_ones_appended() -> None:
    project = load_project(WINE_PROJECT)
    command = entry_point_command(project, "main", {"alpha": "0.3; rm -rf ~", "seed": "7"})
    assert command == "python train.py --alpha '0.3; rm -rf ~' --l1-ratio 0.1 --max-iter 1000 --seed 7"


def test_an_unknown_entry_point_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(RunnerError, match=r"'evaluate'.*\['main', 'fail', 'wait'\]"):
        entry_point_command(load_project(WINE_PROJECT), "evaluate", {})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("STRATUS_PROJECT_PARAMETERS", "[1]", "must be a JSON object"),
        ("STRATUS_PROJECT_PARAMETERS", "{", "is not JSON"),
        ("STRATUS_PROJECT_ENV_MANAGER", "pipenv", "must be one of local, virtualenv, uv, conda"),
        ("STRATUS_PROJECT_PACKAGE_URI", "https://example.com/p.tgz", "must be an s3://bucket/key URI"),
    ],
)
def test_a_bad_job_environment_exits_non_zero_with_one_clear_line(
    variable: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stratus_runner.main(_job_environment(**{variable: value})) == RUNNER_ERROR_EXIT
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("stratus-runner: error: ") and message in line


# -- running ----------------------------------------------------------------------------------------------------------


def _tiny_project(tmp_path: Path, command: str) -> Path:
    mlproject = f"name: tiny\nentry_points:\n  main:\n    command: '{command}'\n"
    return _tar(tmp_path / "tiny.tar.gz", ("file", "tiny/MLproject", mlproject))


def test_the_entry_points_exit_code_is_the_runners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _serve_package(monkeypatch, _tiny_project(tmp_path, 'python3 -c "import sys; sys.exit(3)"'))
    assert stratus_runner.main(_job_environment()) == 3
    err = capsys.readouterr().err
    assert "stratus-runner: running entry point 'main': python3 -c" in err
    assert "stratus-runner: entry point 'main' exited with code 3" in err


def test_the_entry_point_gets_the_run_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    _serve_package(monkeypatch, _tiny_project(tmp_path, "echo run=$MLFLOW_RUN_ID experiment=$MLFLOW_EXPERIMENT_ID"))
    assert stratus_runner.main(_job_environment(MLFLOW_EXPERIMENT_ID="42")) == 0
    assert f"run={'0' * 32} experiment=42" in capfd.readouterr().out


def test_an_unknown_entry_point_fails_the_job_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _serve_package(monkeypatch, _tiny_project(tmp_path, "true"))
    assert stratus_runner.main(_job_environment(STRATUS_PROJECT_ENTRY_POINT="train")) == RUNNER_ERROR_EXIT
    assert "cannot run entry point 'train'" in capsys.readouterr().err


def test_conda_without_conda_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    for name in ("CONDA_EXE", "MLFLOW_CONDA_HOME"):
        monkeypatch.delenv(name, raising=False)
    archive = _tar(
        tmp_path / "c.tar.gz",
        ("file", "c/MLproject", "name: c\nconda_env: conda.yaml\nentry_points:\n  main:\n    command: 'true'\n"),
        ("file", "c/conda.yaml", "name: c\ndependencies: [python=3.11]\n"),
    )
    _serve_package(monkeypatch, archive)
    assert stratus_runner.main(_job_environment(STRATUS_PROJECT_ENV_MANAGER="conda")) == RUNNER_ERROR_EXIT
    assert "stratus-runner: error: env_manager conda needs conda, which is not in this image" in capsys.readouterr().err


def _signal_self_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: signal.raise_signal(signal.SIGTERM))
    timer.start()
    return timer


def test_sigterm_is_passed_to_the_entry_point(tmp_path: Path) -> None:
    _signal_self_after(0.5)
    assert run_command("sleep 30", tmp_path, {"PATH": "/usr/bin:/bin"}) == 128 + signal.SIGTERM


def test_an_entry_point_that_ignores_sigterm_is_killed_after_the_stop_timeout(tmp_path: Path) -> None:
    _signal_self_after(0.5)
    code = run_command("trap '' TERM; sleep 30", tmp_path, {"PATH": "/usr/bin:/bin"}, stop_timeout_s=0.5)
    assert code == 128 + signal.SIGKILL
