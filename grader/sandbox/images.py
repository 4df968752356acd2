"""Runner and assignment images: built once, cached by a hash of everything that goes into them.

Where no container registry is reachable (the usual case here), the base is a Debian root file
system made by debootstrap and imported into Docker (runners/base/build-base.sh); Python packages
come from a wheelhouse the host downloads with pip, so `docker build` itself needs no network.
"""

from __future__ import annotations

import hashlib
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from docker.errors import APIError, BuildError, ImageNotFound
from pydantic import BaseModel

import grader_harness
from grader.config import Settings
from grader.core.errors import AuthorFault, SystemFault
from grader.core.spec import SPEC_FILE, LoadedAssignment, default_runners_dir
from grader.sandbox.containers import HOST_LABEL, OWNER_LABEL, PROCESS_LABEL, sandbox_owner
from grader.sandbox.engine import docker_client
from grader.sandbox.workspaces import host_name, process_token

Progress = Callable[[str], None]
DEBOOTSTRAP_BASE = "grader-base:bookworm"
REGISTRY_BASES = {"python-3.11": "python:3.11-slim-bookworm"}


class ImageRef(BaseModel):
    tag: str
    id: str  # content-addressed image id, recorded as evidence


class ImageBuildFailed(SystemFault, RuntimeError):
    """An image could not be built (engine, base image, network): a fault of the system, retried."""


class PackageNotFound(AuthorFault):
    """A package the spec's `packages` names has no distribution to install: the author's to fix."""

    code = "package-not-found"


# pip's words for "the index could not be reached", as opposed to "the index has no such package".
_PIP_NETWORK = ("NewConnectionError", "Max retries exceeded", "ConnectTimeout", "ReadTimeout", "ProxyError", "SSLError")
_PIP_MISSING = re.compile(r"No matching distribution found for (\S+)")


def _quiet(_: str) -> None:
    return None


def _digest_files(paths: Iterable[Path], root: Path, extra: Iterable[str] = ()) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for item in extra:
        digest.update(item.encode() + b"\0")
    return digest.hexdigest()[:16]


def _image(tag: str) -> ImageRef | None:
    try:
        image = docker_client().images.get(tag)
    except ImageNotFound:
        return None
    return ImageRef(tag=tag, id=str(image.id))


def _registry_base(runner: str, progress: Progress) -> str | None:
    reference = REGISTRY_BASES.get(runner)
    if reference is None:
        return None
    if _image(reference):
        return reference
    try:
        progress(f"pulling {reference}")
        docker_client().images.pull(reference)
    except APIError:
        return None
    return reference


def ensure_base_image(runner: str, settings: Settings, progress: Progress = _quiet) -> str:
    """The image a runner is built FROM: a given reference, a registry image, or the debootstrap one."""
    choice = settings.base_image
    if choice not in ("auto", "debootstrap"):
        return choice
    if choice == "auto" and _image(DEBOOTSTRAP_BASE) is None:
        pulled = _registry_base(runner, progress)
        if pulled:
            return pulled
    if _image(DEBOOTSTRAP_BASE) is None:
        progress("building the offline base image with debootstrap (a few minutes, once)")
        script = default_runners_dir() / "base" / "build-base.sh"
        result = subprocess.run(["bash", str(script), DEBOOTSTRAP_BASE], capture_output=True, text=True)
        if result.returncode != 0:
            raise ImageBuildFailed(f"base image build failed:\n{result.stdout}\n{result.stderr}")
    return DEBOOTSTRAP_BASE


def _download_wheels(requirements: list[str], dest: Path, progress: Progress, from_spec: bool = False) -> None:
    """Fetch wheels for the image's Python on the host, where pip sees the right CA bundle.

    Raises PackageNotFound when a package of the spec (`from_spec`) does not exist, ImageBuildFailed for
    anything else (the index unreachable, a runner's own requirement missing).
    """
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "requirements.txt").write_text("\n".join(requirements) + "\n")
    if not requirements:
        return
    progress(f"downloading wheels: {', '.join(requirements)}")
    machine = platform.machine()
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
        "--abi",
        "cp311",
        "--platform",
        f"manylinux2014_{machine}",
        "--platform",
        f"manylinux_2_28_{machine}",
        "--platform",
        "any",
        "--dest",
        str(dest),
        *requirements,
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    missing = _PIP_MISSING.search(result.stderr)
    if result.returncode != 0 and from_spec and missing and not any(m in result.stderr for m in _PIP_NETWORK):
        raise PackageNotFound(
            f"no installable distribution of {missing.group(1)!r} (for CPython 3.11 on Linux); "
            f"fix or remove it (packages: {requirements})",
            file=SPEC_FILE,
            field="packages",
        )
    if result.returncode != 0:
        raise ImageBuildFailed(f"could not download {requirements}: {result.stderr.strip()[-2000:]}")


def _build(context: Path, tag: str, buildargs: dict[str, str], progress: Progress) -> ImageRef:
    try:
        for chunk in docker_client().api.build(
            path=str(context),
            tag=tag,
            buildargs=buildargs,
            rm=True,
            forcerm=True,
            decode=True,
            # Who built it: an image a crashed build leaves untagged is the janitor's (grader.jobs.janitor).
            labels={OWNER_LABEL: sandbox_owner(), PROCESS_LABEL: process_token(), HOST_LABEL: host_name()},
        ):
            if "error" in chunk:
                raise ImageBuildFailed(f"building {tag} failed: {chunk['error'].strip()}")
            line = str(chunk.get("stream", "")).strip()
            if line.startswith("Step "):
                progress(line)
    except (APIError, BuildError) as exc:
        raise ImageBuildFailed(f"building {tag} failed: {exc}") from exc
    built = _image(tag)
    if built is None:
        raise ImageBuildFailed(f"building {tag} produced no image")
    return built


def _build_with_wheels(
    add_recipe: Callable[[Path], None],
    requirements: list[str],
    tag: str,
    buildargs: dict[str, str],
    progress: Progress,
    from_spec: bool = False,
) -> ImageRef:
    """Build `tag` from a scratch context: the recipe's files plus a wheelhouse of `requirements`."""
    with tempfile.TemporaryDirectory(prefix="grader-build-") as tmp:
        context = Path(tmp)
        add_recipe(context)
        _download_wheels(requirements, context / "wheels", progress, from_spec)
        return _build(context, tag, buildargs, progress)


def harness_package_dir() -> Path:
    """The in-container harness package (grader_harness), as this worker has it."""
    return Path(grader_harness.__file__).resolve().parent


def harness_package_files(package: Path) -> list[Path]:
    """Every file of the harness package (sources, py.typed, anything added later), never bytecode."""
    return sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def harness_package_digest(package: Path) -> str:
    """What a runner image's tag owes to the harness package: every file of it, by path and content."""
    return _digest_files(harness_package_files(package), package.parent)


def runner_image(runner: str, settings: Settings, progress: Progress = _quiet) -> ImageRef:
    runners = default_runners_dir()
    recipe = runners / runner
    harness = runners / "harness"
    package = harness_package_dir()
    base = ensure_base_image(runner, settings, progress)
    base_id = docker_client().images.get(base).id or base
    files = [p for p in [*recipe.rglob("*"), *harness.rglob("*")] if p.is_file() and "__pycache__" not in p.parts]
    tag = f"grader-runner/{runner}:{_digest_files(files, runners, [base_id, harness_package_digest(package)])}"
    cached = _image(tag)
    if cached:
        return cached
    progress(f"building runner image {tag}")
    requirements = [
        line.strip()
        for line in (recipe / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def add_recipe(context: Path) -> None:
        shutil.copy(recipe / "Dockerfile", context / "Dockerfile")
        # The entry points at /opt/grader, the package beside them (/opt/grader/grader_harness).
        shutil.copytree(harness, context / "harness", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(package, context / "harness" / package.name, ignore=shutil.ignore_patterns("__pycache__"))

    return _build_with_wheels(add_recipe, requirements, tag, {"BASE": base}, progress)


ASSIGNMENT_DOCKERFILE = """\
ARG RUNNER
FROM ${RUNNER}
USER 0:0
COPY wheels/ /opt/wheels/
RUN /opt/venv/bin/python -m pip install --no-index --find-links /opt/wheels --no-cache-dir \\
      -r /opt/wheels/requirements.txt && rm -rf /opt/wheels && chmod -R a=rX /opt/venv
USER 1000:1000
"""


def assignment_image(assignment: LoadedAssignment, settings: Settings, progress: Progress = _quiet) -> ImageRef:
    """The runner image plus the spec's packages; learner code may use only these."""
    runner = runner_image(assignment.spec.runner, settings, progress)
    packages = sorted(assignment.spec.packages)
    key = hashlib.sha256("\0".join([runner.id, *packages]).encode()).hexdigest()[:16]
    tag = f"grader-assignment/{assignment.spec.id}:{key}"
    cached = _image(tag)
    if cached:
        return cached
    progress(f"building assignment image {tag}")

    def add_recipe(context: Path) -> None:
        (context / "Dockerfile").write_text(ASSIGNMENT_DOCKERFILE)

    return _build_with_wheels(add_recipe, packages, tag, {"RUNNER": runner.tag}, progress, from_spec=True)
