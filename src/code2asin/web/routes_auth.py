"""Sign-in, sign-out, the language switch, ``/`` and the two static files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, RedirectResponse, Response

from code2asin.accounts.service import authenticate
from code2asin.web.core import UI, Page, Redirect, WebError, current_page, form_text, safe_next
from code2asin.web.i18n import LANG_COOKIE, LANGUAGES

PageDep = Annotated[Page, Depends(current_page)]
STATIC_DIR = Path(__file__).parent / "static"
STATIC_FILES = {"app.css": "text/css", "app.js": "text/javascript", "favicon.svg": "image/svg+xml"}
LANG_MAX_AGE = 365 * 24 * 3600


def home(page: PageDep) -> Response:
    return RedirectResponse(page.url(f"{UI}/jobs"), status_code=303)


def login_form(page: PageDep, next: str | None = None) -> Response:
    target = safe_next(next, page.url(f"{UI}/jobs"))
    if page.principal is not None:
        raise Redirect(target)
    return page.render("login.html", next=target, username="", error=None)


def login(page: PageDep) -> Response:
    target = safe_next(form_text(page, "next"), page.url(f"{UI}/jobs"))
    username = form_text(page, "username").strip()[:200]
    password = form_text(page, "password")[:1000]
    with page.web.db.sessions() as session:
        principal = authenticate(session, username, password) if username and password else None
    if principal is None:
        return page.render(
            "login.html", status_code=401, next=target, username=username, error="login.failed"
        )
    page.session.rotate(principal.id)
    raise Redirect(target)


def logout(page: PageDep) -> Response:
    page.session.rotate(None)
    raise Redirect(page.url(f"{UI}/login"))


def switch_language(page: PageDep) -> Response:
    lang = form_text(page, "lang")
    response = RedirectResponse(safe_next(form_text(page, "next"), page.url(f"{UI}/jobs")), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=LANG_MAX_AGE, path="/", samesite="lax")
    return response


def static(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise WebError(404, "error.not_found")
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers={"Cache-Control": "max-age=300"})


def favicon() -> Response:
    """``/favicon.ico``, which browsers ask for on their own: the SVG icon (current browsers draw it)."""
    return static("favicon.svg")


def install(router: APIRouter) -> None:
    router.add_api_route("/", home, methods=["GET"])
    router.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)
    router.add_api_route(f"{UI}/login", login_form, methods=["GET"])
    router.add_api_route(f"{UI}/login", login, methods=["POST"])
    router.add_api_route(f"{UI}/logout", logout, methods=["POST"])
    router.add_api_route(f"{UI}/lang", switch_language, methods=["POST"])
    router.add_api_route(f"{UI}/static/{{name}}", static, methods=["GET"])
