"""A small LTI 1.3 Advantage platform (an LMS course, as far as a tool can tell) built on lti1p3platform.

Pages a person clicks: `/` (sign in as one of the course's people), `/course` (the course's resource
links, each launching the tool; for an instructor, "Add an activity from the tool", a deep-linking
launch), `/admin/tools` (Dynamic Registration of a tool from its registration URL).

What the tool calls: `/auth` (the OIDC authorization endpoint: answers with an auto-posted id_token),
`/jwks`, `/token` (client_credentials with a JWT assertion checked against the tool's JWKS),
`/deep-link/return`, `/nrps/memberships` (paged with `Link: <...>; rel="next"`), `/ags/lineitems...`
(line items, scores, results), `/.well-known/openid-configuration` and `/register`.

What the tests call: `/_control/state` (everything the tool sent, as JSON), `/_control/tool`,
`/_control/links`, `/_control/scores` ({"down": true} makes the score endpoint answer 503 until it is
set back), `/_control/rotate-key` (a new signing key, the only one its JWKS then shows), `/_control/twist` (the next
id_token spoilt: expired, future-dated, another audience, forged, an unknown kid...)."""

from __future__ import annotations

import html
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from lti1p3platform.exceptions import LtiDeepLinkingResponseException, LtiException
from lti1p3platform.response import Response as LibResponse
from lti1p3platform.response import generate_next_link

from tests.lti.platform.services import (
    GradeService,
    MessageLaunch,
    OIDCLogin,
    RosterService,
    library_request,
    platform_config,
)
from tests.lti.platform.state import PlatformState, Tool

USER_COOKIE = "platform_user"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
LTI_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · Test LMS</title></head>
<body><header><p>Test LMS</p></header><main><h1>{html.escape(title)}</h1>{body}</main></body></html>""",
        status_code=status,
    )


def auto_post(action: str, fields: dict[str, str], label: str) -> HTMLResponse:
    """The form a platform posts to the tool (the browser submits it at once; a person may click)."""
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in fields.items()
    )
    return HTMLResponse(
        f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(label)}</title></head>
<body><main><form id="lti-form" method="post" action="{html.escape(action)}">{inputs}
<button type="submit">{html.escape(label)}</button></form>
<script>document.getElementById("lti-form").submit();</script></main></body></html>"""
    )


def create_app(state: PlatformState) -> FastAPI:
    app = FastAPI(title="Test LMS")

    def refuse(message: str, status: int = 400) -> HTMLResponse:
        with state.lock:
            state.errors.append(message)
        return page("The platform refused this", f'<p role="alert">{html.escape(message)}</p>', status)

    def signed_in(request: Request) -> Any:
        return state.people.get(request.cookies.get(USER_COOKIE, ""))

    # --- pages a person clicks -------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    def home() -> HTMLResponse:
        options = "".join(
            f'<option value="{p.id}">{html.escape(p.name)} ({"instructor" if p.is_instructor else "learner"})</option>'
            for p in state.people.values()
        )
        return page(
            "Sign in",
            f"""<form method="post" action="/sign-in"><label for="user">Person</label>
<select id="user" name="user">{options}</select> <button type="submit">Sign in</button></form>""",
        )

    @app.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        user = str((await request.form()).get("user", ""))
        if user not in state.people:
            return refuse(f"no such person: {user!r}")
        response = RedirectResponse("/course", status_code=303)
        response.set_cookie(USER_COOKIE, user, httponly=True, samesite="lax")
        return response

    @app.get("/course", response_class=HTMLResponse)
    def course(request: Request) -> Response:
        person = signed_in(request)
        if person is None:
            return RedirectResponse("/", status_code=303)
        with state.lock:
            links = "".join(
                f'<li><a href="/launch/{link.id}">{html.escape(link.title)}</a>'
                f' (<a href="/launch/{link.id}?post=1">{html.escape(link.title)}, by a POST login</a>)</li>'
                for link in state.links.values()
            )
        extra = '<p><a href="/deep-link/start">Add an activity from the tool</a></p>' if person.is_instructor else ""
        return page(
            state.context["title"],
            f"<p>Signed in as {html.escape(person.name)}</p><h2>Activities</h2><ul>{links}</ul>{extra}",
        )

    def initiate(request: Request, pending: dict[str, Any], target: str) -> Response:
        person = signed_in(request)
        if person is None:
            return RedirectResponse("/", status_code=303)
        if state.tool is None:
            return refuse("no tool is registered with this platform")
        hint = secrets.token_urlsafe(12)
        with state.lock:
            state.pending[hint] = {**pending, "user": person.id}
        login = OIDCLogin(request, platform_config(state))
        login.set_launch_url(target)
        login.set_lti_message_hint(hint=hint)
        url = login.initiate_login(person.id)
        if request.query_params.get("post"):
            # Login initiation by POST: the same parameters as a form body.
            base, _, query = url.partition("?")
            return auto_post(base, dict(parse_qsl(query)), "Continue to the tool")
        return RedirectResponse(url, status_code=302)

    @app.get("/launch/{link_id}")
    def launch(link_id: str, request: Request) -> Response:
        link = state.links.get(link_id)
        if link is None or state.tool is None:
            return refuse(f"no such activity: {link_id!r}", 404)
        return initiate(request, {"kind": "resource", "link": link_id}, link.url or state.tool.launch_url)

    @app.get("/deep-link/start")
    def deep_link_start(request: Request) -> Response:
        person = signed_in(request)
        if person is not None and not person.is_instructor:
            return refuse("only an instructor adds activities", 403)
        tool = state.tool
        target = (tool.deep_link_url or tool.launch_url) if tool else ""
        return initiate(request, {"kind": "deep-link", "data": secrets.token_urlsafe(8)}, target)

    # --- OIDC authorization endpoint: the launch itself ---------------------------------------------
    @app.api_route("/auth", methods=["GET", "POST"])
    async def authorize(request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.form()).items()})
        tool, person = state.tool, signed_in(request)
        if tool is None:
            return refuse("no tool is registered with this platform")
        expected = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none"}
        for name, value in expected.items():
            if params.get(name) != value:
                return refuse(f"{name} must be {value!r}, got {params.get(name)!r}")
        if params.get("client_id") != tool.client_id:
            return refuse(f"unknown client_id {params.get('client_id')!r}")
        if params.get("redirect_uri") not in tool.allowed_redirects():
            return refuse(f"redirect_uri {params.get('redirect_uri')!r} is not registered for the tool")
        for name in ("nonce", "state"):
            if not params.get(name):
                return refuse(f"{name} is missing")
        if person is None or params.get("login_hint") != person.id:
            return refuse("login_hint is not the person signed in to the platform", 403)
        pending = state.pending.get(params.get("lti_message_hint", ""))
        if pending is None or pending["user"] != person.id:
            return refuse("lti_message_hint is unknown")
        message = MessageLaunch(platform_config(state), params)
        message.set_user_data(person.id, person.roles, person.name, person.email)
        message.set_extra_claims({"given_name": person.given_name, "family_name": person.family_name})
        context = state.context
        message.set_launch_context_claim(context["id"], [LIS_COURSE], context["title"], context["label"])
        message.set_launch_presentation_claim("window", state.url("/course"))
        message.set_nrps(state.url("/nrps/memberships"))
        if pending["kind"] == "deep-link":
            message.set_dl(
                state.url("/deep-link/return"),
                title="Add an activity",
                accept_types={"ltiResourceLink"},
                extra_data=pending["data"],  # an opaque string, echoed back by the tool
            )
            message.set_ags(state.url("/ags/lineitems"), allow_creating_lineitems=True)
        else:
            link = state.links[pending["link"]]
            message.set_launch_url(link.url or tool.launch_url)
            message.set_resource_link_claim(link.id, title=link.title)
            if link.custom:
                message.set_custom_parameters_claim(link.custom)
            line_item = state.line_item_url(link.line_item_id) if link.line_item_id else None
            message.set_ags(state.url("/ags/lineitems"), line_item, allow_creating_lineitems=True)
        try:
            form = message.lti_launch()
        except Exception as error:  # the library raises bare exceptions on a bad preflight
            return refuse(f"launch refused: {type(error).__name__}: {error}")
        with state.lock:
            twist, state.twist = state.twist, {}
        if twist:
            form["id_token"] = twisted(form["id_token"], twist, state)
        with state.lock:
            state.launches.append(
                {
                    "kind": pending["kind"],
                    "user": person.id,
                    "link": pending.get("link"),
                    "id_token": form["id_token"],
                    "state": form["state"],
                    "redirect_uri": form["launch_url"],
                }
            )
        return auto_post(form["launch_url"], {"id_token": form["id_token"], "state": form["state"]}, "Open the tool")

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        return dict(platform_config(state).get_jwks())

    # --- Deep Linking return --------------------------------------------------------------------
    @app.post("/deep-link/return")
    async def deep_link_return(request: Request) -> Response:
        token = str((await request.form()).get("JWT", ""))
        tool = state.tool
        if tool is None or not token:
            return refuse("a deep-linking response needs a JWT form field")
        config = platform_config(state)
        try:
            items = config.validate_deeplinking_resp({"JWT": token})
            claims = config.tool_validate_and_decode(token)
        except (LtiException, LtiDeepLinkingResponseException, jwt.PyJWTError) as error:
            return refuse(f"deep-linking response refused: {error}")
        problem = _deep_link_problem(claims, tool, state)
        if problem:
            return refuse(problem)
        added = []
        for item in items:
            if item.get("type") != "ltiResourceLink":
                continue
            line_item = item.get("lineItem")
            link = state.add_link(
                str(item.get("title") or "Activity"),
                {str(k): str(v) for k, v in (item.get("custom") or {}).items()},
                str(item.get("url") or ""),
                dict(line_item) if isinstance(line_item, dict) else None,
            )
            added.append(link.id)
        with state.lock:
            state.deep_link_returns.append({"content_items": items, "claims": claims, "links": added})
        titles = "".join(f"<li>{html.escape(state.links[i].title)}</li>" for i in added)
        return page("Added to the course", f'<ul>{titles}</ul><p><a href="/course">Back to the course</a></p>')

    # --- OAuth2 token endpoint ------------------------------------------------------------------
    @app.post("/token")
    async def token(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        with state.lock:
            state.token_requests.append({"scope": form.get("scope", ""), "grant_type": form.get("grant_type")})
        tool = state.tool
        if tool is None:
            return _oauth_error(state, "invalid_client", "no tool is registered")
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(state, "unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != JWT_BEARER:
            return _oauth_error(state, "invalid_request", f"client_assertion_type must be {JWT_BEARER}")
        config = platform_config(state)
        try:
            claims = config.tool_validate_and_decode(form.get("client_assertion", ""))
        except (LtiException, jwt.PyJWTError, AssertionError) as error:
            return _oauth_error(state, "invalid_client", f"client_assertion: {error}", 401)
        problem = _assertion_problem(claims, tool, state)
        if problem:
            return _oauth_error(state, "invalid_client", problem, 401)
        with state.lock:
            state.used_assertions.add(str(claims["jti"]))
        answer = config.get_access_token(form)
        if not answer["scope"]:
            return _oauth_error(state, "invalid_scope", f"no known scope in {form.get('scope')!r}")
        return JSONResponse(dict(answer))

    # --- Names and Roles ------------------------------------------------------------------------
    @app.get("/nrps/memberships")
    def memberships(request: Request) -> Response:
        query = dict(request.query_params)
        with state.lock:
            state.roster_requests.append(dict(query))
        query.setdefault("limit", str(state.page_size))  # the platform pages even when not asked to
        service = RosterService(library_request("GET", "/nrps/memberships", _headers(request), query), state)
        return _answer(service.handle_resp(service.handle_get_members))

    # --- Assignment and Grade Services -----------------------------------------------------------
    @app.api_route("/ags/lineitems", methods=["GET", "POST"])
    async def line_items(request: Request) -> Response:
        body = await _json(request) if request.method == "POST" else None
        service = GradeService(_library(request, body), state)
        handler = service.handle_get_lineitems if request.method == "GET" else service.handle_create_lineitem
        return _answer(service.handle_resp(handler))

    @app.api_route("/ags/lineitems/{item_id}", methods=["GET", "PUT", "DELETE"])
    async def line_item(item_id: str, request: Request) -> Response:
        body = await _json(request) if request.method == "PUT" else None
        service = GradeService(_library(request, body), state, item_id)
        handler = {
            "GET": service.handle_get_lineitem,
            "PUT": service.handle_update_lineitem,
            "DELETE": service.handle_delete_lineitem,
        }[request.method]
        return _answer(service.handle_resp(handler, line_item_id=item_id))

    @app.post("/ags/lineitems/{item_id}/scores")
    async def scores(item_id: str, request: Request) -> Response:
        body = await _json(request)
        if state.scores_down:
            with state.lock:
                state.refused_scores.append({"line_item": item_id, "score": body})
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        if not isinstance(body, dict):
            return JSONResponse({"error": "a score is a JSON object"}, status_code=400)
        service = GradeService(_library(request, body), state, item_id)
        return _answer(service.handle_resp(service.handle_update_score, line_item_id=item_id))

    @app.get("/ags/lineitems/{item_id}/results")
    def results(item_id: str, request: Request) -> Response:
        service = GradeService(_library(request, None), state, item_id)
        return _answer(service.handle_resp(service.handle_get_results, line_item_id=item_id))

    # --- Dynamic Registration -------------------------------------------------------------------
    @app.get("/.well-known/openid-configuration")
    def openid_configuration() -> dict[str, Any]:
        return {
            "issuer": state.issuer,
            "authorization_endpoint": state.url("/auth"),
            "token_endpoint": state.url("/token"),
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "jwks_uri": state.url("/jwks"),
            "registration_endpoint": state.url("/register"),
            "scopes_supported": [
                "openid",
                "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
                "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
                "https://purl.imsglobal.org/spec/lti-ags/scope/score",
                "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
            ],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
            "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                "product_family_code": "test-lms",
                "version": "1.0",
                "messages_supported": [{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}],
            },
        }

    @app.post("/register")
    async def register(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {state.registration_token}":
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        body = await _json(request)
        problem = _registration_problem(body)
        if problem:
            with state.lock:
                state.errors.append(problem)
            return JSONResponse({"error": "invalid_client_metadata", "error_description": problem}, status_code=400)
        configuration = body[TOOL_CONFIGURATION]
        deep_link = next(
            (
                m.get("target_link_uri", "")
                for m in configuration.get("messages", [])
                if m.get("type") == "LtiDeepLinkingRequest"
            ),
            "",
        )
        tool = Tool(
            client_id=f"client-{secrets.token_hex(6)}",
            deployment_id="deployment-1",
            oidc_login_url=body["initiate_login_uri"],
            launch_url=configuration["target_link_uri"],
            jwks_url=body["jwks_uri"],
            deep_link_url=deep_link or "",
            redirect_uris=list(body["redirect_uris"]),
            name=str(body.get("client_name", "Tool")),
        )
        with state.lock:
            state.tool = tool
            state.registrations.append({"request": body, "client_id": tool.client_id})
        answer = {
            **body,
            "client_id": tool.client_id,
            TOOL_CONFIGURATION: {**configuration, "deployment_id": tool.deployment_id},
        }
        return JSONResponse(answer)

    @app.get("/admin/tools", response_class=HTMLResponse)
    def tools_page() -> HTMLResponse:
        current = f"<p>Registered: {html.escape(state.tool.name)} ({state.tool.client_id})</p>" if state.tool else ""
        return page(
            "Register a tool",
            f"""{current}<form method="get" action="/admin/tools/register">
<label for="url">Tool registration URL</label> <input id="url" name="url" type="url" size="60">
<button type="submit">Register the tool</button></form>""",
        )

    @app.get("/admin/tools/register")
    def tools_register(url: str) -> Response:
        parts = urlsplit(url)
        query = [
            *parse_qsl(parts.query),
            ("openid_configuration", state.url("/.well-known/openid-configuration")),
            ("registration_token", state.registration_token),
        ]
        return RedirectResponse(urlunsplit(parts._replace(query=urlencode(query))), status_code=303)

    # --- control, for the tests -----------------------------------------------------------------
    @app.get("/_control/state")
    def control_state() -> dict[str, Any]:
        return state.snapshot()

    @app.post("/_control/tool")
    async def control_tool(request: Request) -> dict[str, Any]:
        data = await _json(request)
        with state.lock:
            state.tool = Tool(**data)
        return {"tool": data}

    @app.post("/_control/links")
    async def control_links(request: Request) -> dict[str, Any]:
        data = await _json(request)
        link = state.add_link(data["title"], data.get("custom"), data.get("url", ""), data.get("line_item"))
        return {"id": link.id, "line_item_id": link.line_item_id}

    @app.post("/_control/twist")
    async def control_twist(request: Request) -> dict[str, Any]:
        data = dict(await _json(request))
        with state.lock:
            state.twist = data
        return {"twist": data}

    @app.post("/_control/rotate-key")
    def control_rotate_key() -> dict[str, Any]:
        state.rotate_key()
        return {"kid": platform_config(state).get_jwks()["keys"][0]["kid"]}

    @app.post("/_control/scores")
    async def control_scores(request: Request) -> dict[str, Any]:
        data = await _json(request)
        with state.lock:
            state.scores_down = bool(data["down"])
        return {"down": state.scores_down}

    return app


LIS_COURSE = "http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"


def twisted(token: str, twist: dict[str, Any], state: PlatformState) -> str:
    """The library's id_token spoilt as `twist` says, signed again: "claims" merged in, "drop" removed,
    "exp_shift"/"iat_shift" seconds from now, "forge" (signed by a key the JWKS does not have, under the
    published kid), "kid" (signed by such a key under that unknown kid). What a broken or hostile platform
    sends; the tool must refuse each."""
    claims = jwt.decode(token, options={"verify_signature": False})
    kid = str(jwt.get_unverified_header(token)["kid"])
    claims.update(twist.get("claims", {}))
    for name in twist.get("drop", []):
        claims.pop(name, None)
    now = int(time.time())
    if "exp_shift" in twist:
        claims["exp"] = now + int(twist["exp_shift"])
    if "iat_shift" in twist:
        claims["iat"] = now + int(twist["iat_shift"])
    key: Any = state.private_pem
    if twist.get("forge") or twist.get("kid"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = str(twist.get("kid") or kid)
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _headers(request: Request) -> Mapping[str, str]:
    # Starlette's headers: the library asks for "Authorization", a client may send "authorization".
    return request.headers


def _library(request: Request, body: Any) -> Any:
    return library_request(request.method, request.url.path, _headers(request), dict(request.query_params), body)


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _answer(response: LibResponse) -> Response:
    """The library's answer as HTTP: a container's `next` becomes a `Link: <...>; rel="next"` header, and a
    line-item or result container is the bare JSON array the AGS spec shows."""
    if response.code >= 400:
        return JSONResponse({"error": response.message}, status_code=response.code)
    if response.code == 204 or response.result is None:
        return Response(status_code=response.code)
    result = response.result
    headers: dict[str, str] = {}
    if isinstance(result, dict) and "next" in result:
        following = result.pop("next")
        if following:
            headers["Link"] = generate_next_link(following).replace("rel=next", 'rel="next"')
    if isinstance(result, dict) and "content" in result and "has_next" in result:
        result = result["content"]
    return Response(json.dumps(result), status_code=response.code, media_type=response.media_type, headers=headers)


def _oauth_error(state: PlatformState, code: str, description: str, status: int = 400) -> JSONResponse:
    with state.lock:
        state.token_refusals.append(f"{code}: {description}")
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


def _assertion_problem(claims: dict[str, Any], tool: Tool, state: PlatformState) -> str:
    """The 1EdTech Security Framework's checks of a client assertion, beyond its signature (the library's)."""
    if claims.get("iss") != tool.client_id or claims.get("sub") != tool.client_id:
        return f"iss and sub must both be the client id {tool.client_id!r}"
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if state.url("/token") not in audiences:
        return f"aud must contain the token endpoint {state.url('/token')}"
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] < time.time():
        return "exp is missing or past"
    if not claims.get("jti"):
        return "jti is missing"
    if str(claims["jti"]) in state.used_assertions:
        return "jti was used before (a replayed assertion)"
    return ""


def _deep_link_problem(claims: dict[str, Any], tool: Tool, state: PlatformState) -> str:
    if claims.get("iss") != tool.client_id:
        return f"iss must be the client id {tool.client_id!r}"
    audience = claims.get("aud")
    if state.issuer not in (audience if isinstance(audience, list) else [audience]):
        return f"aud must be the platform {state.issuer}"
    if claims.get(LTI_CLAIM + "deployment_id") != tool.deployment_id:
        return "deployment_id is not the tool's"
    if claims.get(LTI_CLAIM + "version") != "1.3.0":
        return "version must be 1.3.0"
    if not claims.get("nonce"):
        return "nonce is missing"
    sent = {p["data"] for p in state.pending.values() if p["kind"] == "deep-link"}
    if claims.get(DL_CLAIM + "data") not in sent:
        return "data does not echo the deep-linking request's"
    return ""


def _registration_problem(body: Any) -> str:
    if not isinstance(body, dict):
        return "the registration request is a JSON object"
    for name in ("initiate_login_uri", "redirect_uris", "jwks_uri", TOOL_CONFIGURATION):
        if not body.get(name):
            return f"{name} is required"
    if body.get("token_endpoint_auth_method") != "private_key_jwt":
        return "token_endpoint_auth_method must be private_key_jwt"
    if "id_token" not in (body.get("response_types") or []):
        return "response_types must include id_token"
    if not body[TOOL_CONFIGURATION].get("target_link_uri"):
        return f"{TOOL_CONFIGURATION}.target_link_uri is required"
    return ""
