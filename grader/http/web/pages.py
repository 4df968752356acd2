"""The list of page routers the app mounts. Each page module adds its router here, in one line."""

from __future__ import annotations

from fastapi import APIRouter

ROUTERS: list[APIRouter] = []

from grader.http.web import public  # noqa: E402  (credential, issuer, achievement and verifier pages)

ROUTERS.append(public.router)

from grader.http.web import learner  # noqa: E402  (learner and author pages)

ROUTERS.append(learner.router)

from grader.http.web import author  # noqa: E402

ROUTERS.append(author.router)

from grader.http.web import review  # noqa: E402  (authenticity: the review queue, learners' claim tokens and keys)

ROUTERS.append(review.router)

from grader.http.web import lti  # noqa: E402  (LTI 1.3: JWKS, login, launch, Deep Linking, registrations)

ROUTERS.append(lti.router)
