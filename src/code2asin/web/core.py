"""The web edge's plumbing: the per-request ``Page``, permission checks, rendering and the route class.

``WebRoute`` (made per router by ``route_class``) wraps every UI route so that nothing can be forgotten:
it reads the session cookie and the language, loads the signed-in user, refuses a POST without the
session's CSRF token (403), turns ``Redirect``/``WebError``/``NotFoundError`` into a redirect or an HTML
error page, and writes the session cookie back when it changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from code2asin.accounts.models import Permission
from code2asin.accounts.service import Principal
from code2asin.config import Settings
from code2asin.db import DATABASE_RETRY_AFTER_SECONDS, Database, database_unavailable
from code2asin.errors import NotFoundError
from code2asin.jobs.dispatch import Dispatcher
from code2asin.storage import Storage, open_storage
from code2asin.web import numbers, reasons
from code2asin.web.i18n import LANG_COOKIE, Translator, negotiate
from code2asin.web.security import SESSION_COOKIE, SESSION_MAX_AGE, SessionCodec, WebSession, secret_key
from code2asin.web.views import principal_for_user

TEMPLATES_DIR = Path(__file__).parent / "templates"
UI = "/code2asin/ui"
#: room for multipart boundaries and the small form fields around an uploaded file
_FORM_OVERHEAD = 1024 * 1024


class Redirect(Exception):
    """Answer with a 303 redirect to ``url`` (a control-flow signal for the route class)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class WebError(Exception):
    """An error page: HTTP ``status`` with the catalogue message ``key``."""

    def __init__(self, status: int, key: str, **params: object) -> None:
        super().__init__(key)
        self.status = status
        self.key = key
        self.params = params


@dataclass
class WebApp:
    """What every UI route shares."""

    settings: Settings
    db: Database
    dispatcher_factory: Callable[[], Dispatcher]
    storage_factory: Callable[[], Storage]
    codec: SessionCodec
    env: Environment
    _storage: Storage | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        dispatcher: Dispatcher | Callable[[], Dispatcher],
        storage: Storage | Callable[[], Storage] | None,
    ) -> WebApp:
        env = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=select_autoescape(["html", "svg"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["when"] = format_time
        numbers.install(env.filters)
        reasons.install(env.filters)
        return cls(
            settings=settings,
            db=db,
            dispatcher_factory=_factory(dispatcher, "dispatch"),
            storage_factory=(lambda: open_storage(settings)) if storage is None else _factory(storage, "put"),
            codec=SessionCodec(secret_key(settings)),
            env=env,
        )

    @property
    def dispatcher(self) -> Dispatcher:
        return self.dispatcher_factory()

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = self.storage_factory()
        return self._storage

    def fragment(self, name: str, context: dict[str, Any]) -> str:
        return self.env.get_template(name).render(**context)


def _factory(value: Any, method: str) -> Callable[[], Any]:
    """``value`` when it is already a factory, else a factory returning the object (told by ``method``)."""
    if hasattr(value, method):
        return lambda: value
    factory: Callable[[], Any] = value
    return factory


def format_time(value: datetime | None) -> str:
    if value is None:
        return "—"
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.strftime("%Y-%m-%d %H:%M:%S UTC")


#: actors named by a fixed catalogue key
_FIXED_ACTORS = {
    "sweeper": "actor.scheduler",
    "beat": "actor.scheduler",
    "scheduler": "actor.scheduler",
    "cli": "actor.cli",
    "embedded": "actor.embedded",
}


def actor_label(t: Translator, actor: str | None) -> str:
    """Who did it, as a person reads it: ``user:alice`` → ``alice``, ``token:ci`` → ``API token ci``,
    ``sweeper`` → ``scheduler``, ``cli`` → ``command line``, ``embedded-…`` → ``in-process worker``, a Celery
    run ``w1@host/4242/1a2b3c4d`` → ``worker w1@host (process 4242)``. Anything else is shown as it is."""
    actor = actor or ""
    kind, _, rest = actor.partition(":")
    name, _, process = actor.partition("/")
    pid = process.split("/")[0]
    if kind == "user" and rest:
        label = rest
    elif kind == "token" and rest:
        label = t("actor.token", name=rest)
    elif actor.split("-")[0] in _FIXED_ACTORS:
        label = t(_FIXED_ACTORS[actor.split("-")[0]])
    elif "@" in name:
        label = t("actor.worker", name=name, pid=pid) if pid.isdigit() else t("actor.worker_only", name=name)
    else:
        label = actor
    return label


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{seconds:.1f} s"


@dataclass
class Page:
    """One request as the UI sees it: who, in which language, with which session."""

    request: Request
    web: WebApp
    session: WebSession
    t: Translator
    principal: Principal | None
    form: FormData | None = None
    #: a flash message taken from the session for this render: (level, text)
    flash_now: tuple[str, str] | None = None

    @property
    def root(self) -> str:
        return str(self.request.scope.get("root_path", ""))

    def url(self, path: str) -> str:
        return self.root + path

    def can(self, permission: Permission) -> bool:
        return self.principal is not None and self.principal.has(permission)

    def require(self, permission: Permission) -> Principal:
        """The signed-in principal with ``permission``; else a redirect to sign in, or a 403 page."""
        if self.principal is None:
            here = self.request.url.path + (f"?{self.request.url.query}" if self.request.url.query else "")
            raise Redirect(self.url(f"{UI}/login?next={quote(here, safe='')}"))
        if not self.principal.has(permission):
            raise WebError(403, "error.forbidden", permission=permission.value)
        return self.principal

    @property
    def scope(self) -> frozenset[str] | None:
        return None if self.principal is None else self.principal.supplier_scope

    def flash(self, level: str, text: str) -> None:
        self.session.flash = (level, text)
        self.session.changed = True

    def context(self, **values: Any) -> dict[str, Any]:
        if self.flash_now is None and self.session.flash is not None:
            self.flash_now = self.session.flash
            self.session.flash = None
            self.session.changed = True
        base: dict[str, Any] = {
            "t": self.t,
            "lang": self.t.lang,
            "csrf": self.session.csrf,
            "principal": self.principal,
            "can_write": self.can(Permission.WRITE),
            "can_delete": self.can(Permission.DELETE),
            "flash": self.flash_now,
            "ui": self.url(UI),
            "root": self.root,
            "here": self.request.url.path + (f"?{self.request.url.query}" if self.request.url.query else ""),
            "duration": format_duration,
            "actor": lambda raw: actor_label(self.t, raw),
        }
        base.update(values)
        return base

    def render(self, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        html = self.web.fragment(name, self.context(**values))
        return HTMLResponse(html, status_code=status_code)


def current_page(request: Request) -> Page:
    """The dependency every UI route takes."""
    page: Page = request.state.code2asin_page
    return page


def safe_next(value: str | None, default: str) -> str:
    """A local path to go back to (never another site: no scheme, no ``//``, no backslash)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def _load_principal(web: WebApp, user_id: str) -> Principal | None:
    with web.db.sessions() as session:
        return principal_for_user(session, user_id)


def route_class(web: WebApp) -> type[APIRoute]:
    """An ``APIRoute`` subclass bound to ``web`` (see the module docstring)."""

    class WebRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            original = super().get_route_handler()

            async def handler(request: Request) -> Response:
                session = web.codec.load(request.cookies.get(SESSION_COOKIE))
                lang = negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
                try:
                    principal = None
                    if session.user_id:
                        principal = await run_in_threadpool(_load_principal, web, session.user_id)
                        if principal is None:
                            session.rotate(None)
                    page = Page(request, web, session, Translator(lang), principal)
                    request.state.code2asin_page = page
                    try:
                        response = await _guarded(page, request, original)
                    finally:
                        if page.form is not None:
                            await page.form.close()
                except SQLAlchemyError as exc:
                    if not database_unavailable(exc):
                        raise
                    return _unavailable_page(Page(request, web, session, Translator(lang), None))
                if session.changed:
                    response.set_cookie(
                        SESSION_COOKIE,
                        web.codec.dump(session),
                        max_age=SESSION_MAX_AGE,
                        path="/",
                        httponly=True,
                        samesite="lax",
                        secure=request.url.scheme == "https",
                    )
                return response

            return handler

    return WebRoute


def _unavailable_page(page: Page) -> HTMLResponse:
    """503 "database unavailable, retrying": the page reloads itself after ``Retry-After`` seconds."""
    response = page.render("unavailable.html", status_code=503, retry_after=DATABASE_RETRY_AFTER_SECONDS)
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


async def _guarded(
    page: Page, request: Request, original: Callable[[Request], Awaitable[Response]]
) -> Response:
    try:
        if request.method == "POST":
            length = request.headers.get("content-length", "")
            if length.isdigit() and int(length) > page.web.settings.max_upload_bytes + _FORM_OVERHEAD:
                raise WebError(413, "error.too_large")
            page.form = await request.form()
            token = page.form.get("csrf_token")
            if not page.session.csrf_ok(token if isinstance(token, str) else None):
                raise WebError(403, "error.csrf")
        return await original(request)
    except Redirect as exc:
        return RedirectResponse(exc.url, status_code=303)
    except WebError as exc:
        return page.render("error.html", status_code=exc.status, message=page.t(exc.key, **exc.params))
    except NotFoundError:
        return page.render("error.html", status_code=404, message=page.t("error.not_found"))


def form_text(page: Page, name: str, default: str = "") -> str:
    """A text field of the POSTed form (files and missing fields give ``default``)."""
    value = page.form.get(name) if page.form is not None else None
    return value if isinstance(value, str) else default


def form_file(page: Page, name: str) -> UploadFile | None:
    value = page.form.get(name) if page.form is not None else None
    return value if isinstance(value, UploadFile) and value.filename else None
