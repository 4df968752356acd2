"""Assignments: upload a folder (tarball or multipart), validate, list, versions, regrade."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path, PurePosixPath

import anyio
from fastapi import APIRouter, Request, Response
from redis.exceptions import RedisError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartParser

from grader.core.spec import SPEC_FILE, LoadedAssignment, SpecError, SpecIssue, load_assignment
from grader.http.api.submissions import _enqueue, gradable_version
from grader.http.deps import AuthorCaller, ServicesDep, SessionDep, SubmitCaller
from grader.http.problems import FieldError, ProblemError, not_found
from grader.http.schemas import (
    AssignmentOut,
    CheckOut,
    CheckRowOut,
    PublishOut,
    RegradeIn,
    RegradeOut,
    SpecIssueOut,
    ValidationOut,
    VersionOut,
)
from grader.jobs.queue import enqueue_check, grade_job_id
from grader.jobs.services import Services
from grader.store import catalog, submissions
from grader.store.archive import (
    MAX_ARCHIVE_BYTES,
    MAX_FILES,
    ArchiveError,
    pack_folder,
    safe_relative,
    sha256,
    unpack_archive,
    write_file,
)
from grader.store.db import session_scope
from grader.store.models import Assignment, AssignmentVersion, Submission, SubmissionState, VersionStatus

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/assignments", tags=["assignments"])
TARBALL_TYPES = ("application/gzip", "application/x-gzip", "application/x-tar", "application/octet-stream")
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The assignment folder: a tar(.gz) archive, or multipart form parts named `files` "
        "whose filenames are paths relative to the folder.",
        "content": {
            "application/gzip": {"schema": {"type": "string", "format": "binary"}},
            "application/x-tar": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                    "required": ["files"],
                }
            },
        },
    }
}


class Upload:
    """An uploaded assignment folder unpacked into a private temporary folder."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="upload-"))

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# What a multipart body may carry beyond its files' contents (boundaries and part headers).
_MULTIPART_SLACK = 1024 * 1024


def _too_large() -> ProblemError:
    return ProblemError(413, "too-large", f"uploads are limited to {MAX_ARCHIVE_BYTES // (1024 * 1024)} MiB")


async def _capped_body(request: Request, cap: int) -> AsyncGenerator[bytes, None]:
    """The request body as it arrives, refused (413) as soon as it passes `cap` bytes: by its declared
    length before anything is read, and by what was read otherwise (a chunked body declares none)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _too_large()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise _too_large()
        yield chunk


async def _read_upload(request: Request, upload: Upload) -> None:
    """The upload unpacked into `upload.dir`. The body is read on the event loop with the size cap applied
    while reading; unpacking and writing files run on a worker thread. Raises ProblemError (413, 415, 422)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if media == "multipart/form-data":
            await _read_multipart(request, upload.dir)
        elif media in TARBALL_TYPES:
            body = b"".join([chunk async for chunk in _capped_body(request, MAX_ARCHIVE_BYTES)])
            await anyio.to_thread.run_sync(unpack_archive, body, upload.dir)
        else:
            raise ProblemError(
                415, "unsupported-media-type", "send the folder as application/gzip (a .tar.gz) or multipart/form-data"
            )
    except ArchiveError as exc:
        raise ProblemError(422, "bad-archive", str(exc)) from exc
    except OSError as exc:  # e.g. a file name longer than the file system allows
        raise ProblemError(422, "bad-archive", f"a file in the upload cannot be stored: {exc.strerror}") from exc


async def capped_form(request: Request, max_files: int = MAX_FILES) -> FormData:
    """A multipart form parsed from the body as it arrives, refused (413) once the body passes the upload
    cap, so an oversized upload is never spooled whole. Raises ProblemError (400 for a malformed body)."""
    body = _capped_body(request, MAX_ARCHIVE_BYTES + _MULTIPART_SLACK)
    parser = MultiPartParser(request.headers, body, max_files=max_files, max_fields=100)
    try:
        return await parser.parse()
    except ProblemError:
        raise
    except Exception as exc:  # the multipart parser raises several types for malformed bodies
        raise ProblemError(400, "bad-multipart", f"the multipart body could not be read: {exc}") from exc


async def _read_multipart(request: Request, dest: Path) -> None:
    form = await capped_form(request)
    try:
        parts = [p for p in form.getlist("files") if isinstance(p, UploadFile)]
        if not parts:
            raise ProblemError(422, "bad-archive", "the multipart body has no file parts named 'files'")
        await anyio.to_thread.run_sync(_write_parts, parts, dest)
    finally:
        await form.close()


def _write_parts(parts: list[UploadFile], dest: Path) -> None:
    """Each part's (spooled) file into `dest` at its own relative path. Raises ProblemError 413, ArchiveError."""
    total = 0
    for part in parts:
        content = part.file.read(MAX_ARCHIVE_BYTES - total + 1)
        total += len(content)
        if total > MAX_ARCHIVE_BYTES:
            raise _too_large()
        rel: PurePosixPath = safe_relative(part.filename or "")
        write_file(dest, rel, content)


def _spec_root(folder: Path) -> Path:
    """The folder holding assignment.yaml: the upload itself, or its only subfolder."""
    if (folder / SPEC_FILE).is_file():
        return folder
    inner = [p for p in folder.iterdir() if p.is_dir()]
    if len(inner) == 1 and (inner[0] / SPEC_FILE).is_file():
        return inner[0]
    return folder


def _issues(exc: SpecError, root: Path) -> list[SpecIssueOut]:
    """Spec issues with paths relative to the upload (the server's temp folder means nothing to an author)."""
    out = []
    for issue in exc.issues:
        file = issue.file
        with contextlib.suppress(ValueError):
            file = Path(file).resolve().relative_to(root.resolve()).as_posix()
        out.append(SpecIssueOut(file=file, field=issue.field, message=issue.message.replace(str(root), ".")))
    return out


def _load(root: Path) -> LoadedAssignment | list[SpecIssueOut]:
    try:
        return load_assignment(root)
    except SpecError as exc:
        return _issues(exc, root)
    except (OSError, UnicodeDecodeError) as exc:
        return _issues(SpecError([SpecIssue(file=SPEC_FILE, field="(file)", message=str(exc))]), root)


def _version_out(version: AssignmentVersion) -> VersionOut:
    return VersionOut(
        version=version.version,
        status=VersionStatus(version.status).value,
        checked_at=version.checked_at,
        spec_hash=version.spec_hash,
        archive_sha256=version.archive_sha256,
        test_count=version.test_count,
        created_at=version.created_at,
        spec=version.spec,
    )


@router.post("/validate", response_model=ValidationOut, openapi_extra=UPLOAD_BODY)
async def validate_assignment(request: Request, who: AuthorCaller) -> ValidationOut:
    """Check an assignment folder without publishing it: every error names file, field and expectation."""
    upload = Upload()
    try:
        await _read_upload(request, upload)
        root = _spec_root(upload.dir)
        loaded = await anyio.to_thread.run_sync(_load, root)
        if isinstance(loaded, list):
            return ValidationOut(valid=False, errors=loaded)
        return ValidationOut(
            valid=True,
            assignment=loaded.spec.id,
            version=loaded.spec.version,
            spec_hash=loaded.spec_hash,
            test_count=len(loaded.all_test_ids()),
        )
    finally:
        upload.close()


@router.post(
    "",
    status_code=202,
    response_model=PublishOut,
    openapi_extra=UPLOAD_BODY,
    responses={200: {"model": PublishOut, "description": "This exact version was already uploaded"}},
)
async def upload_assignment(
    request: Request, response: Response, services: ServicesDep, session: SessionDep, who: AuthorCaller
) -> PublishOut:
    """Upload a version of an assignment, `solutions/` included. It is stored as `checking` and a worker
    runs `grader assignment check` on it: the version is published (takes submissions) only when the
    reference and every known-bad solution grade as `solutions/expected.yaml` says, and refused with the
    table otherwise (`GET …/versions/{version}/check`). A checking or published version is immutable:
    the same number with other files is a conflict; the same files again change nothing. A refused
    number may be uploaded again."""
    upload = Upload()
    try:
        await _read_upload(request, upload)
        # Validation, packing and the store's write are synchronous: on a worker thread, never the loop.
        result = await anyio.to_thread.run_sync(accept_upload, session, services, who.tenant_id, upload)
    finally:
        upload.close()
    response.status_code = 202 if result.created else 200
    response.headers["Location"] = f"/api/v1/assignments/{result.assignment.slug}/versions/{result.version.version}"
    return PublishOut(assignment=result.assignment.slug, version=_version_out(result.version), created=result.created)


def unpack_tarball(data: bytes, upload: Upload) -> None:
    """A .tar(.gz) of the folder into `upload` (the learner-facing pages' file input); ProblemError 422."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ProblemError(413, "too-large", f"uploads are limited to {MAX_ARCHIVE_BYTES // (1024 * 1024)} MiB")
    try:
        unpack_archive(data, upload.dir)
    except ArchiveError as exc:
        raise ProblemError(422, "bad-archive", str(exc)) from exc
    except OSError as exc:
        raise ProblemError(422, "bad-archive", f"a file in the upload cannot be stored: {exc.strerror}") from exc


def accept_tarball(
    session: Session, services: Services, tenant_id: str, data: bytes, upload: Upload
) -> catalog.PublishResult:
    """A .tar(.gz) through `unpack_tarball` and `accept_upload` (the author's pages; synchronous: call it
    off the event loop). Raises ProblemError as they do."""
    unpack_tarball(data, upload)
    return accept_upload(session, services, tenant_id, upload)


def accept_upload(session: Session, services: Services, tenant_id: str, upload: Upload) -> catalog.PublishResult:
    """The one path of an uploaded folder, for the API and the author's pages: validate it (ProblemError 422
    `invalid-assignment` with every issue as a FieldError naming file and field), store it as `checking`
    (409 `version-exists` for other content under a number in use), commit, and enqueue its check."""
    root = _spec_root(upload.dir)
    loaded = _load(root)
    if isinstance(loaded, list):
        raise ProblemError(
            422,
            "invalid-assignment",
            f"the assignment has {len(loaded)} error(s): "
            + "; ".join(f"{i.file}: {i.field}: {i.message}" for i in loaded[:5]),
            errors=[FieldError(location=i.field, message=i.message, file=i.file) for i in loaded],
        )
    archive = pack_folder(root)
    spec_yaml = (root / SPEC_FILE).read_text(encoding="utf-8")
    try:
        result = catalog.publish_version(session, tenant_id, loaded, spec_yaml, archive, sha256(archive))
    except catalog.VersionConflict as exc:
        raise ProblemError(409, "version-exists", str(exc)) from exc
    version_id, checking = result.version.id, result.version.status == VersionStatus.CHECKING
    session.commit()
    if result.created and checking:
        _enqueue_check(services, version_id)
    return result


def _enqueue_check(services: Services, version_id: str) -> None:
    """After commit: a failure here loses nothing, the reconciler enqueues the check later."""
    try:
        job_id = enqueue_check(services.queue, services.settings, version_id)
    except RedisError as exc:
        log.warning("could not enqueue the check of %s now (%s); the reconciler will", version_id, exc)
        return
    with session_scope(services.factory) as session:
        row = session.get(AssignmentVersion, version_id)
        if row is not None:
            row.check_job_id = job_id


def _assignment_out(session: SessionDep, assignment: Assignment) -> AssignmentOut:
    versions = catalog.versions_of(session, assignment)
    latest = catalog.pick_version(session, assignment, None)
    return AssignmentOut(
        id=assignment.slug,
        title=assignment.title,
        created_at=assignment.created_at,
        latest_version=latest.version if latest else None,
        versions=[v.version for v in versions],
    )


@router.get("", response_model=list[AssignmentOut])
def list_assignments(session: SessionDep, who: SubmitCaller) -> list[AssignmentOut]:
    return [_assignment_out(session, a) for a in catalog.assignments_of(session, who.tenant_id)]


def _own(session: SessionDep, tenant_id: str, slug: str) -> Assignment:
    assignment = catalog.assignment_by_slug(session, tenant_id, slug)
    if assignment is None:
        raise not_found("assignment", slug)
    return assignment


@router.get("/{assignment_id}", response_model=AssignmentOut)
def get_assignment(assignment_id: str, session: SessionDep, who: SubmitCaller) -> AssignmentOut:
    return _assignment_out(session, _own(session, who.tenant_id, assignment_id))


@router.get("/{assignment_id}/versions", response_model=list[VersionOut])
def list_versions(assignment_id: str, session: SessionDep, who: SubmitCaller) -> list[VersionOut]:
    return [_version_out(v) for v in catalog.versions_of(session, _own(session, who.tenant_id, assignment_id))]


@router.get("/{assignment_id}/versions/{version}", response_model=VersionOut)
def get_version(assignment_id: str, version: str, session: SessionDep, who: SubmitCaller) -> VersionOut:
    found = catalog.pick_version(session, _own(session, who.tenant_id, assignment_id), version)
    if found is None:
        raise not_found("version", f"{assignment_id} {version}")
    return _version_out(found)


@router.get("/{assignment_id}/versions/{version}/check", response_model=CheckOut)
def get_check(assignment_id: str, version: str, session: SessionDep, who: AuthorCaller) -> CheckOut:
    """The service's run of `grader assignment check` on this upload: for authors (it names hidden tests)."""
    found = catalog.pick_version(session, _own(session, who.tenant_id, assignment_id), version)
    if found is None:
        raise not_found("version", f"{assignment_id} {version}")
    report = found.check_report or {}
    return CheckOut(
        assignment=assignment_id,
        version=found.version,
        status=VersionStatus(found.status).value,
        detail=found.status_detail,
        checked_at=found.checked_at,
        rows=[CheckRowOut.model_validate(row) for row in report.get("rows", [])],
        problems=list(report.get("problems", [])),
    )


def _regrade_targets(session: Session, assignment: Assignment, body: RegradeIn) -> list[Submission]:
    only_id = None
    if body.only_version is not None:
        only = catalog.pick_version(session, assignment, body.only_version)
        if only is None:
            raise not_found("version", f"{assignment.slug} {body.only_version}")
        only_id = only.id
    rows = submissions.submissions_of_assignment(
        session, assignment.tenant_id, assignment.id, version_id=only_id, submission_ids=body.submission_ids
    )
    busy = [s.id for s in rows if not SubmissionState(s.state).terminal]
    if busy:
        raise ProblemError(
            409,
            "still-grading",
            f"{len(busy)} of these submissions are still being graded (e.g. {busy[0]}); regrade once they are finished",
        )
    return rows


@router.post("/{assignment_id}/regrade", status_code=202, response_model=RegradeOut)
def regrade(
    assignment_id: str, body: RegradeIn, session: SessionDep, services: ServicesDep, who: AuthorCaller
) -> RegradeOut:
    """Grade finished submissions again (against `version`, default the latest). Earlier grades and
    credentials stay as they were: each regrade is a new run with a grade of its own."""
    return regrade_submissions(session, services, _own(session, who.tenant_id, assignment_id), body)


def regrade_submissions(session: Session, services: Services, assignment: Assignment, body: RegradeIn) -> RegradeOut:
    """Regrade an assignment's finished submissions (the API and the author's pages): a new run each,
    committed and enqueued. Raises ProblemError (409 still grading, 409 version not published, 404)."""
    target = gradable_version(session, assignment, body.version)
    rows = _regrade_targets(session, assignment, body)
    runs: list[tuple[str, int]] = []
    for submission in rows:
        submission.run += 1
        submission.tries = 0
        submission.error = None
        submission.finished_at = None
        submission.assignment_version_id = target.id
        submission.job_id = grade_job_id(submission.id, submission.run)
        submissions.record_event(
            session, submission, SubmissionState.QUEUED, "", "regrade", f"regrade against {target.version}"
        )
        runs.append((submission.id, submission.run))
    session.commit()
    for submission_id, run in runs:
        _enqueue(services, submission_id, run)
    return RegradeOut(version=target.version, submission_ids=[s for s, _ in runs])
