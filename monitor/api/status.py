"""The status page at `/`: one read-only HTML page in Chinese, no JavaScript, behind a `read` token.

A browser signs in once with a form (`POST /login`); the token then travels in an HttpOnly,
SameSite=Strict cookie, never in a URL (addresses end up in logs and browser history). A
script may send the usual bearer header instead. The page reads what the last tick recorded,
so it costs a few queries however large the district.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from monitor.api.auth import ServiceDep
from monitor.api.now import Now
from monitor.calendar.coverage import coverage_warnings
from monitor.clock import SHANGHAI
from monitor.reports.ontime import DEFINITION_ZH, format_rate
from monitor.reports.status_page import Status, status
from monitor.runtime.service import Service
from monitor.tokens import Principal, authenticate

router = APIRouter(include_in_schema=False)

COOKIE = "dutywatch_token"
MAX_TOKEN_CHARS = 200
MAX_FORM_FIELDS = 5  # the form has one; a few spare for browsers and extensions
LIST_LIMIT = 100  # rows per list and unit; the rest are counted
SESSION_HOURS = 12
HEADERS = {
    # nothing but our own inline styles; no scripts, frames or foreign forms
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def local_time(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def weekday(at: datetime) -> str:
    """周一 … 周日 of the instant in Asia/Shanghai."""
    return "周" + "一二三四五六日"[at.astimezone(SHANGHAI).weekday()]


@cache
def templates() -> Environment:
    """The pages' templates: autoescaped, with the local-time filter."""
    env = Environment(
        loader=PackageLoader("monitor", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["local"] = local_time
    env.globals["format_rate"] = format_rate
    env.globals["weekday"] = weekday
    return env


def _html(template: str, status_code: int = 200, **values: object) -> HTMLResponse:
    body = templates().get_template(template).render(**values)
    return HTMLResponse(body, status_code=status_code, headers=HEADERS)


async def _principal(service: Service, token: str) -> Principal | None:
    token = token.strip()
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None

    def lookup() -> Principal | None:
        with service.sessions() as session:
            return authenticate(session, service.settings, token)

    return await run_in_threadpool(lookup)


def _presented(request: Request) -> str:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials
    return request.cookies.get(COOKIE, "")


def _login(service: Service, status_code: int, error: str | None = None) -> HTMLResponse:
    return _html("login.html.j2", status_code, district=service.settings.district, error=error)


@router.get("/", response_class=HTMLResponse)
async def page(request: Request, service: ServiceDep, now: Now, unit: str | None = None) -> Response:
    """The status page, or the sign-in form (401) without a valid `read` token."""
    principal = await _principal(service, _presented(request))
    if principal is None:
        return _login(service, 401)
    if "read" not in principal.scopes:
        return _login(service, 403, "此令牌没有“read”权限，不能查看状态页。")

    def gather() -> Status:
        with service.sessions() as session:
            return status(session, service.loaded.rulebook, service.loaded.calendar, now, unit=unit)

    figures = await run_in_threadpool(gather)
    return _html(
        "status.html.j2",
        page=figures,
        unit=unit,
        district=service.settings.district,
        limit=LIST_LIMIT,
        one_second=timedelta(seconds=1),
        definition=DEFINITION_ZH,
        good=service.settings.report.star_at_least,
        bad=service.settings.report.criticism_below,
        # a year with no State Council notice, named at the top (monitor/calendar/coverage.py)
        calendar_warnings=coverage_warnings(service.loaded.calendar, now),
    )


@router.post("/login")
async def login(request: Request, service: ServiceDep) -> Response:
    """Check the form's token; a `read` token gets the session cookie and goes to the page."""
    try:
        form = parse_qs(
            (await request.body()).decode("utf-8", errors="replace"), max_num_fields=MAX_FORM_FIELDS
        )
    except ValueError:  # parse_qs refuses more fields than allowed: the client's fault, not ours
        return _login(service, 400, f"表单字段过多（最多 {MAX_FORM_FIELDS} 个）：只需提交 token 字段。")
    token = (form.get("token") or [""])[0]
    principal = await _principal(service, token)
    if principal is None:
        return _login(service, 401, "令牌无效或已撤销。")
    if "read" not in principal.scopes:
        return _login(service, 403, "此令牌没有“read”权限，不能查看状态页。")
    response = RedirectResponse("/", status_code=303, headers=HEADERS)
    response.set_cookie(
        COOKIE,
        token.strip(),
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = RedirectResponse("/", status_code=303, headers=HEADERS)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
