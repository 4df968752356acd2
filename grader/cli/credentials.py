"""`grader keys ...` and `grader credential ...`: issuer keys, and offline verification and baking.

Mounted by ``grader.cli.main``. The keystore lives in ``$GRADER_KEYS_DIR`` (default
``~/.local/share/grader/keys``) and its passphrase comes from ``$GRADER_KEY_PASSPHRASE``.

Exit codes of ``credential verify``: 0 valid, 1 invalid, 2 unusable input (unreadable, not JSON, not
a credential).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from credentials.bake import PNG_SIGNATURE, bake_credential, unbake
from credentials.did import ResolvedKey, did_web, split_verification_method
from credentials.errors import BakeError, CredentialError, KeyError_
from credentials.inputs import MAX_BYTES, parse_json
from credentials.keys import METADATA_FILE, KeyRecord, Keystore
from credentials.multibase import public_key_from_multibase
from credentials.verify import FetchedStatusList, StatusListInput, VerificationReport, verify_credential
from grader.config import KEY_PASSPHRASE_ENV, Settings, key_passphrase

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNUSABLE = 2

keys_app = typer.Typer(help="Manage the issuer's signing keys (encrypted at rest).", no_args_is_help=True)
credential_app = typer.Typer(help="Verify, bake and unbake Open Badges 3.0 credentials.", no_args_is_help=True)
# emoji off: "did:key:" would otherwise render as "did🔑"; untrusted text is escaped or wrapped in Text.
out = Console(soft_wrap=True, emoji=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, emoji=False, highlight=False)


def keys_dir() -> Path:
    """GRADER_KEYS_DIR, else <GRADER_HOME>/keys: the same keystore the local issuer signs with."""
    return Settings().resolved_keys_dir.expanduser()


def _passphrase() -> str:
    return key_passphrase(Settings())


def _fail(message: str, code: int = EXIT_UNUSABLE) -> typer.Exit:
    err.print(f"[red]error[/] {escape(message)}")
    return typer.Exit(code)


def _open_store(*, writable: bool) -> Keystore:
    directory = keys_dir()
    try:
        return Keystore.open(directory, _passphrase()) if writable else Keystore.open_readonly(directory)
    except KeyError_ as exc:
        raise _fail(str(exc)) from exc


def _record_json(record: KeyRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


def _print_records(records: list[KeyRecord]) -> None:
    table = Table(title=escape(f"keys in {keys_dir()}"))
    for column in ("key id", "state", "created", "retired"):
        table.add_column(column, no_wrap=column == "key id")
    table.add_column("verification method", overflow="fold")
    for record in records:
        state = "[green]active[/]" if record.state == "active" else "[yellow]retired[/]"
        retired = f"{record.retired_at:%Y-%m-%d %H:%M}" if record.retired_at else ""
        table.add_row(
            Text(record.key_id), state, f"{record.created_at:%Y-%m-%d %H:%M}", retired, Text(record.verification_method)
        )
    out.print(table)


# -------------------------------------------------------------------------------------------- keys


@keys_app.command("init")
def keys_init(
    did_web_domain: Annotated[
        str | None, typer.Option("--did-web", help="Issue as did:web:<domain> (production); default did:key")
    ] = None,
    did_web_path: Annotated[str | None, typer.Option("--did-web-path", help="Optional path of the did:web")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the new key as JSON")] = False,
) -> None:
    """Create the keystore with its first active key."""
    try:
        controller = did_web(did_web_domain, did_web_path) if did_web_domain else None
        store = Keystore.init(keys_dir(), _passphrase(), controller=controller)
    except (KeyError_, ValueError) as exc:
        raise _fail(str(exc)) from exc
    record = store.active_key()
    if as_json:
        out.print_json(data={"issuer": store.issuer_id(), "key": _record_json(record)})
        return
    out.print(f"[green]created[/] keystore {escape(str(store.directory))}")
    out.print(f"issuer: {escape(store.issuer_id())}")
    out.print(f"active key: {escape(record.key_id)} ({escape(record.verification_method)})")
    if Settings().key_passphrase is None:
        out.print(
            f"the keys are encrypted with a generated passphrase kept in {escape(str(Settings().home))} "
            f"(mode 0600); set {KEY_PASSPHRASE_ENV} to use your own"
        )
    if controller:
        out.print("publish the DID document: grader keys did-document --out did.json")


@keys_app.command("list")
def keys_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List keys with their state (active keys sign; retired keys only verify older proofs)."""
    store = _open_store(writable=False)
    records = store.list()
    if as_json:
        out.print_json(data=[_record_json(r) for r in records])
    else:
        _print_records(records)


@keys_app.command("rotate")
def keys_rotate(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Create a new active key; the previous one is retired but keeps verifying what it signed."""
    store = _open_store(writable=True)
    try:
        record = store.rotate()
    except CredentialError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        out.print_json(data=_record_json(record))
        return
    out.print(f"[green]new active key[/] {escape(record.key_id)} ({escape(record.verification_method)})")
    if store.controller:
        out.print("republish the DID document: grader keys did-document --out did.json")


@keys_app.command("retire")
def keys_retire(key_id: Annotated[str, typer.Argument(help="The key to retire")]) -> None:
    """Retire a key: it never signs again (proofs it made before now still verify)."""
    store = _open_store(writable=True)
    try:
        record = store.retire(key_id)
    except CredentialError as exc:
        raise _fail(str(exc)) from exc
    out.print(f"[yellow]retired[/] {escape(record.key_id)} at {record.retired_at:%Y-%m-%d %H:%M:%S}")


@keys_app.command("did-document")
def keys_did_document(
    output: Annotated[Path | None, typer.Option("--out", help="Write did.json here instead of stdout")] = None,
) -> None:
    """The did:web DID document (did.json) listing every key, for the issuer to publish."""
    store = _open_store(writable=False)
    try:
        document = store.did_document()
    except CredentialError as exc:
        raise _fail(str(exc)) from exc
    text = json.dumps(document, indent=2)
    if output is None:
        out.print_json(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        err.print(f"wrote {escape(str(output))}")


# -------------------------------------------------------------------------------------- credential


def _read_limited(path: Path, what: str, limit: int) -> bytes:
    """At most ``limit`` bytes of ``path``; raises typer.Exit(2) when unreadable or larger."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise _fail(f"cannot read {what} {path}: {exc.strerror}") from exc
    if len(data) > limit:
        raise _fail(f"{what} {path} is larger than the limit of {limit} bytes")
    return data


def _read_credential(path: Path) -> Any:
    """A credential from a JSON file or a baked PNG; raises typer.Exit(2) when unusable."""
    # A baked PNG carries an image besides the credential: allow it a larger file. A JSON file
    # over the verifier's limit is read a little further, for the json check to name the limit.
    data = _read_limited(path, "credential", 16 * MAX_BYTES)
    if data.startswith(PNG_SIGNATURE):
        try:
            data = unbake(data).encode("utf-8")
        except BakeError as exc:
            raise _fail(f"{path}: {exc}") from exc
    return data


def _read_json(path: Path, what: str) -> Any:
    """A JSON file under the verifier's input limits; raises typer.Exit(2) when unusable."""
    data = _read_limited(path, what, MAX_BYTES)
    try:
        return parse_json(data)
    except CredentialError as exc:
        raise _fail(f"{what} {path}: {exc}") from exc


def _status_list_arg(value: str) -> StatusListInput:
    """``FILE``, or ``URL=FILE`` for a list fetched from URL (an entry naming URL may use it)."""
    url, sep, file = value.partition("=")
    if sep and url.startswith(("https://", "http://")):
        document = _read_json(Path(file), "status list")
        if not isinstance(document, dict):
            raise _fail(f"status list {file} is not a JSON object")
        return FetchedStatusList(url, document)
    document = _read_json(Path(value), "status list")
    if not isinstance(document, dict):
        raise _fail(f"status list {value} is not a JSON object")
    return document


def _key_resolver(keys: list[str]) -> Any:
    """``VM=MULTIBASE`` pairs given on the command line, then the local keystore (if there is one)."""
    given: dict[str, ResolvedKey] = {}
    for item in keys:
        vm, sep, multibase = item.partition("=")
        if not sep:
            raise _fail(f"--key expects VERIFICATION_METHOD=PUBLIC_KEY_MULTIBASE, got {item!r}")
        try:
            public = public_key_from_multibase(multibase.strip())
        except ValueError as exc:
            raise _fail(f"--key {vm}: {exc}") from exc
        controller, _ = split_verification_method(vm)
        given[vm] = ResolvedKey(verification_method=vm, controller=controller, public_key=public, source="--key")
    store = Keystore.open_readonly(keys_dir()) if (keys_dir() / METADATA_FILE).is_file() else None

    def resolve(vm: str) -> ResolvedKey:
        if vm in given:
            return given[vm]
        if store is not None:
            return store.resolve(vm)
        raise LookupError(f"no key given for {vm}")

    return resolve


def _print_report(report: VerificationReport, path: Path) -> None:
    table = Table(title=Text(str(path)), show_lines=False)
    table.add_column("check")
    table.add_column("result")
    table.add_column("reason", overflow="fold")
    style = {"passed": "[green]passed[/]", "failed": "[red]FAILED[/]", "skipped": "[dim]skipped[/]"}
    for check in report.checks:
        table.add_row(check.name, style[check.outcome], Text(check.reason))
    out.print(table)
    if report.issuer_trusted is not None:
        out.print(f"issuer {escape(str(report.issuer))} " + ("is in" if report.issuer_trusted else "is NOT in") + " the trust list")
    if report.valid:
        out.print("[bold green]VALID[/]" + (f"  {escape(report.credential_id)}" if report.credential_id else ""))
    elif not report.usable:
        out.print("[bold red]UNUSABLE[/]: the input is not a credential")
    else:
        out.print(f"[bold red]INVALID[/]: failed {', '.join(c.name for c in report.failed)}")


@credential_app.command("verify")
def credential_verify(
    file: Annotated[Path, typer.Argument(help="Credential JSON, or a baked PNG badge")],
    status_list: Annotated[
        list[str] | None,
        typer.Option(
            "--status-list",
            help="Signed status list credential: FILE, or URL=FILE when FILE was fetched from URL (repeatable)",
        ),
    ] = None,
    did_document: Annotated[
        list[Path] | None, typer.Option("--did-document", help="did.json of a did:web issuer")
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option("--key", help="VERIFICATION_METHOD=PUBLIC_KEY_MULTIBASE for issuers that are not DIDs"),
    ] = None,
    require_evidence: Annotated[
        bool, typer.Option("--require-evidence", help="Fail when there is no evidence")
    ] = False,
    trust: Annotated[
        list[str] | None,
        typer.Option("--trust", help="Accept only credentials of this issuer id (a DID or URL; repeatable)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Verify a credential offline: exit 0 valid, 1 invalid, 2 unusable input."""
    raw = _read_credential(file)
    lists = [_status_list_arg(p) for p in status_list or []]
    documents = [_read_json(p, "DID document") for p in did_document or []]
    try:
        report = verify_credential(
            raw,
            status_list=lists or None,
            did_documents=documents,
            key_resolver=_key_resolver(key or []),
            require_evidence=require_evidence,
            trusted_issuers=frozenset(trust) if trust else None,
        )
    except CredentialError as exc:  # e.g. a malformed DID document
        raise _fail(str(exc)) from exc
    if as_json:
        out.print_json(data=report.to_json())
    else:
        _print_report(report, file)
    if not report.usable:
        raise typer.Exit(EXIT_UNUSABLE)
    raise typer.Exit(EXIT_VALID if report.valid else EXIT_INVALID)


@credential_app.command("bake")
def credential_bake(
    credential: Annotated[Path, typer.Argument(help="Signed credential JSON")],
    output: Annotated[Path, typer.Option("--out", help="The PNG badge to write")],
    image: Annotated[
        Path | None, typer.Option("--image", help="Bake into this PNG instead of a generated badge")
    ] = None,
) -> None:
    """Bake a credential into a PNG badge (iTXt chunk 'openbadgecredential')."""
    document = _read_json(credential, "credential")
    if not isinstance(document, dict):
        raise _fail(f"{credential} is not a JSON object")
    try:
        png = bake_credential(document, image.read_bytes() if image else None)
    except OSError as exc:
        raise _fail(f"cannot read {image}: {exc.strerror}") from exc
    except BakeError as exc:
        raise _fail(str(exc)) from exc
    output.write_bytes(png)
    err.print(f"baked {escape(str(credential))} into {escape(str(output))}")


@credential_app.command("unbake")
def credential_unbake(
    png: Annotated[Path, typer.Argument(help="A baked PNG badge")],
    output: Annotated[Path | None, typer.Option("--out", help="Write the credential here instead of stdout")] = None,
) -> None:
    """Print (or write) the credential baked into a PNG badge."""
    try:
        text = unbake(png.read_bytes())
    except OSError as exc:
        raise _fail(f"cannot read {png}: {exc.strerror}") from exc
    except BakeError as exc:
        raise _fail(f"{png}: {exc}") from exc
    with contextlib.suppress(ValueError):  # a compact JWS is printed as-is
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        err.print(f"wrote {escape(str(output))}")


__all__ = ["credential_app", "keys_app"]


@credential_app.command("revoke")
def credential_revoke(
    credential_id: Annotated[str, typer.Argument(help="The credential's id (urn:uuid:...)")],
    reason: Annotated[str, typer.Option("--reason", help="Why; kept by the issuer, not published")],
) -> None:
    """Revoke a credential of the local issuer: its bit is set in the signed status list."""
    from grader.issuing.local import local_issuer

    issuer = local_issuer(Settings())
    try:
        issuer.revoke(credential_id, reason)
    except KeyError as exc:
        raise _fail(str(exc.args[0])) from exc
    out.print(f"[yellow]revoked[/] {escape(credential_id)}: {escape(reason)}")
    out.print(f"status list credential: {issuer.status_credential_file}")
