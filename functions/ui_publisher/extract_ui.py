"""Build-time only (the Makefile runs it): copy mlflow/server/js/build out of an mlflow wheel into a folder."""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path, PurePosixPath

BUILD_PREFIX = "mlflow/server/js/build/"


def extract(wheel: Path, target: Path) -> int:
    """Extract the UI build under target; the number of files written."""
    count = 0
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            if member.is_dir() or not member.filename.startswith(BUILD_PREFIX):
                continue
            relative = PurePosixPath(member.filename[len(BUILD_PREFIX) :])
            if relative.is_absolute() or ".." in relative.parts:
                raise SystemExit(f"refusing {member.filename}: it leaves the build folder")
            destination = target.joinpath(*relative.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, destination.open("wb") as sink:
                shutil.copyfileobj(source, sink)
            count += 1
    if not (target / "index.html").is_file():
        raise SystemExit(f"{wheel} has no {BUILD_PREFIX}index.html")
    return count


if __name__ == "__main__":
    wheel_path, target_dir = Path(sys.argv[1]), Path(sys.argv[2])
    print(f"extracted {extract(wheel_path, target_dir)} UI files from {wheel_path.name}")
