"""What the test platform knows and remembers: its key, the tool it is wired to, its course, people and
resource links, and a record of everything the tool sent it (scores, deep-link returns, roster and token
requests), which the tests read back through /_control/state."""

from __future__ import annotations

import secrets
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

LIS = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTRUCTOR = LIS + "Instructor"
LEARNER = LIS + "Learner"


@dataclass
class Person:
    id: str
    given_name: str
    family_name: str
    email: str
    roles: list[str]

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def is_instructor(self) -> bool:
        return INSTRUCTOR in self.roles


@dataclass
class Tool:
    """The tool as the platform registered it (by hand through /_control/tool, or by Dynamic Registration)."""

    client_id: str
    deployment_id: str
    oidc_login_url: str
    launch_url: str
    jwks_url: str
    deep_link_url: str = ""
    redirect_uris: list[str] = field(default_factory=list)
    name: str = "Tool"

    def allowed_redirects(self) -> set[str]:
        return {self.launch_url, *(self.redirect_uris or []), *([self.deep_link_url] if self.deep_link_url else [])}


@dataclass
class ResourceLink:
    id: str
    title: str
    url: str = ""  # empty: the tool's launch URL
    custom: dict[str, str] = field(default_factory=dict)
    line_item_id: str = ""


def default_people() -> list[Person]:
    """An instructor and five learners: a roster long enough for three pages of two."""
    people = [Person("instructor-1", "Ines", "Teacher", "ines.teacher@example.org", [INSTRUCTOR])]
    names = [("Lea", "Learner"), ("Bo", "Brown"), ("Cy", "Chen"), ("Di", "Diaz"), ("Ed", "Evans")]
    for n, (given, family) in enumerate(names, start=1):
        people.append(Person(f"learner-{n}", given, family, f"{given.lower()}.{family.lower()}@example.org", [LEARNER]))
    return people


class PlatformState:
    """One platform's memory; every mutation under one lock (uvicorn serves requests on several threads)."""

    def __init__(self, issuer: str, *, page_size: int = 2) -> None:
        self.issuer = issuer.rstrip("/")
        self.page_size = page_size
        self.lock = threading.RLock()
        self.private_pem = self.public_pem = ""
        self.rotate_key()
        self.registration_token = secrets.token_urlsafe(16)
        self.context = {"id": "course-101", "label": "CS101", "title": "Software Projects 101"}
        self.people: dict[str, Person] = {p.id: p for p in default_people()}
        self.tool: Tool | None = None
        self.links: dict[str, ResourceLink] = {}
        self.line_items: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, dict[str, Any]] = {}  # lti_message_hint -> what the login is for
        self.used_assertions: set[str] = set()
        self.scores_down = False
        self.twist: dict[str, Any] = {}  # what to spoil in the next id_token (see app.twisted)
        # What the tool did, in order.
        self.launches: list[dict[str, Any]] = []
        self.scores: list[dict[str, Any]] = []
        self.refused_scores: list[dict[str, Any]] = []
        self.deep_link_returns: list[dict[str, Any]] = []
        self.roster_requests: list[dict[str, Any]] = []
        self.token_requests: list[dict[str, Any]] = []
        self.token_refusals: list[str] = []
        self.registrations: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def rotate_key(self) -> None:
        """A new signing key; the JWKS then publishes only it (the kid, its thumbprint, changes)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        public = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        with self.lock:
            self.private_pem, self.public_pem = private, public

    def url(self, path: str) -> str:
        return self.issuer + path

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{secrets.token_hex(4)}"

    def add_link(
        self, title: str, custom: dict[str, str] | None = None, url: str = "", line_item: dict[str, Any] | None = None
    ) -> ResourceLink:
        """A placement in the course; with `line_item`, a gradebook column bound to it (as deep linking makes)."""
        with self.lock:
            link = ResourceLink(self.new_id("link"), title, url, dict(custom or {}))
            if line_item is not None:
                link.line_item_id = self.add_line_item({**line_item, "resourceLinkId": link.id})
            self.links[link.id] = link
            return link

    def add_line_item(self, data: dict[str, Any]) -> str:
        """Stores a line item; returns its short id (its URL is /ags/lineitems/<id>)."""
        with self.lock:
            item_id = self.new_id("li")
            item = {k: v for k, v in data.items() if k != "id"}
            item["id"] = self.line_item_url(item_id)
            self.line_items[item_id] = item
            return item_id

    def line_item_url(self, item_id: str) -> str:
        return self.url(f"/ags/lineitems/{item_id}")

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "issuer": self.issuer,
                "tool": asdict(self.tool) if self.tool else None,
                "links": {k: asdict(v) for k, v in self.links.items()},
                "line_items": list(self.line_items.values()),
                "launches": list(self.launches),
                "scores": list(self.scores),
                "refused_scores": list(self.refused_scores),
                "deep_link_returns": list(self.deep_link_returns),
                "roster_requests": list(self.roster_requests),
                "token_requests": list(self.token_requests),
                "token_refusals": list(self.token_refusals),
                "registrations": list(self.registrations),
                "scores_down": self.scores_down,
                "errors": list(self.errors),
            }
