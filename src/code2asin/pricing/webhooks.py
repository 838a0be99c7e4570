"""Signed webhook deliveries of price alerts, retried on the 1/5/15/60/240 minute schedule.

Each alert of a tracker with a webhook URL owes one ``WebhookDelivery`` (unique per alert). A sender
claims a due delivery with a conditional UPDATE (so two sweepers never send it at once), POSTs the JSON
body with ``X-Code2ASIN-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes with the tracker's
secret>``, then records the attempt in the delivery's log. A 2xx answer delivers it; anything else is
retried after 1, 5, 15, 60 and 240 minutes, then the delivery ends ``failed``. The secret is never
logged nor stored in the attempt log. ``X-Code2ASIN-Delivery`` carries the delivery id: a receiver that
saw it already (our answer was lost) can drop the copy.

SSRF guard (``check_webhook_url``): a webhook URL must be http(s), carry no userinfo, and every address
its host resolves to must be public (no private, loopback, link-local such as 169.254.169.254, multicast,
reserved or unspecified address; IPv4 forms embedded in IPv6 unwrapped) unless the host is listed in
``CODE2ASIN_WEBHOOK_HOSTS`` (``host`` or ``host:port``, for private receivers). It runs when a tracker is
created or changed (``InvalidValueError``, HTTP 422) and again before every attempt (the name is
re-resolved): a refused delivery ends ``failed`` at once with an ``invalid_data`` error in its log.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import or_, select, update

from code2asin.db import Database, rowcount
from code2asin.errors import RETRY_BACKOFF_MINUTES, ErrorType, InvalidValueError
from code2asin.images import Resolver, TrustedHost, is_public_address
from code2asin.jobs.models import utcnow
from code2asin.pricing.models import DeliveryStatus, PriceAlert, Tracker, WebhookDelivery

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Code2ASIN-Signature"
DELIVERY_HEADER = "X-Code2ASIN-Delivery"
EVENT_HEADER = "X-Code2ASIN-Event"
#: the first attempt, then one per step of the backoff schedule
MAX_ATTEMPTS = 1 + len(RETRY_BACKOFF_MINUTES)
CLAIM = timedelta(seconds=60)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_URL_LENGTH = 2000
WEBHOOK_HOSTS_ENV = "CODE2ASIN_WEBHOOK_HOSTS"
_PORTS = {"http": 80, "https": 443}


def webhook_hosts() -> tuple[TrustedHost, ...]:
    """The hosts allowed to resolve to private addresses (setting ``CODE2ASIN_WEBHOOK_HOSTS``)."""
    from code2asin.config import load_settings

    return tuple(TrustedHost.parse(e) for e in load_settings().webhook_hosts)


def check_webhook_url(
    url: str,
    trusted: Iterable[TrustedHost] | None = None,
    *,
    getaddrinfo: Resolver = socket.getaddrinfo,
) -> None:
    """Raise ``InvalidValueError`` unless ``url`` may receive webhooks (see the module docstring)."""
    if len(url) > MAX_URL_LENGTH or any(c <= " " or c in "\\\x7f" for c in url):
        raise InvalidValueError("webhook_url refused: too long, or contains spaces or control characters.")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _PORTS:
        raise InvalidValueError("webhook_url must be an http:// or https:// URL.")
    if "@" in parts.netloc:
        raise InvalidValueError("webhook_url refused: it carries a user name or password.")
    try:
        host, port = (parts.hostname or "").lower(), parts.port or _PORTS[scheme]
    except ValueError:
        raise InvalidValueError("webhook_url refused: invalid port.") from None
    if not host:
        raise InvalidValueError("webhook_url refused: no host.")
    if any(entry.matches(host, port) for entry in (webhook_hosts() if trusted is None else trusted)):
        return
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise InvalidValueError(f"webhook_url refused: {host} could not be resolved ({exc}).") from exc
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise InvalidValueError(f"webhook_url refused: {host} has no address.")
    refused = sorted({str(a) for a in addresses if not is_public_address(a)})
    if refused:
        raise InvalidValueError(
            f"webhook_url refused: {host} resolves to the non-public address {', '.join(refused)} "
            f"(list the host in {WEBHOOK_HOSTS_ENV} to allow a private receiver)."
        )


def sign(secret: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` + hex HMAC-SHA256 of ``body`` keyed by ``secret``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of a received signature header (for receivers and tests)."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


def _money(value: Any) -> str | None:
    return None if value is None else str(value)


def alert_body(alert: PriceAlert, tracker: Tracker, delivery_id: int) -> bytes:
    """The JSON body of one alert's delivery (stable key order, so the signed bytes are reproducible)."""
    payload = {
        "event": "price_alert",
        "delivery_id": delivery_id,
        "alert": {
            "id": alert.id,
            "kind": alert.kind,
            "tracker_id": tracker.id,
            "tracker_name": tracker.name,
            "job_id": alert.job_id,
            "supplier_code": alert.supplier_code,
            "gtin": alert.gtin,
            "asin": alert.asin,
            "marketplace": alert.marketplace,
            "previous_price": _money(alert.previous_price),
            "price": _money(alert.price),
            "currency": alert.currency,
            "change_percent": _money(alert.change_percent),
            "supplier_price": _money(alert.supplier_price),
            "message": alert.message,
            "created_at": alert.created_at.isoformat(),
        },
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _claim(db: Database, delivery_id: int, now: datetime) -> tuple[str, bytes, dict[str, str]] | None:
    with db.unit_of_work() as session:
        claimed = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
            )
            .values(claimed_until=now + CLAIM)
            .execution_options(synchronize_session=False)
        )
        if not rowcount(claimed):
            return None
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        alert = session.get(PriceAlert, delivery.alert_id)
        tracker = session.get(Tracker, delivery.tracker_id)
        if alert is None or tracker is None or not tracker.webhook_secret:
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = "The tracker has no webhook secret any more."
            return None
        body = alert_body(alert, tracker, delivery.id)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "code2asin-webhooks/0.1",
            SIGNATURE_HEADER: sign(tracker.webhook_secret, body),
            DELIVERY_HEADER: str(delivery.id),
            EVENT_HEADER: alert.kind,
        }
        return delivery.url, body, headers


def _record(
    db: Database, delivery_id: int, now: datetime, status_code: int | None, error: str | None, ms: int
) -> str:
    with db.unit_of_work() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        delivery.attempts += 1
        delivery.attempt_log = [
            *(delivery.attempt_log or []),
            {"at": now.isoformat(), "status_code": status_code, "error": error, "duration_ms": ms},
        ]
        delivery.last_status_code = status_code
        delivery.last_error = error
        delivery.claimed_until = None
        if status_code is not None and 200 <= status_code < 300:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + timedelta(minutes=RETRY_BACKOFF_MINUTES[delivery.attempts - 1])
        return delivery.status


def _refuse(db: Database, delivery_id: int, now: datetime, error: str) -> None:
    """End a delivery whose URL the SSRF guard refused: ``failed`` at once, nothing sent."""
    with db.unit_of_work() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None
        delivery.attempts += 1
        delivery.attempt_log = [
            *(delivery.attempt_log or []),
            {"at": now.isoformat(), "status_code": None, "error": error, "duration_ms": 0},
        ]
        delivery.last_status_code = None
        delivery.last_error = error
        delivery.claimed_until = None
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None


def deliver_due(
    db: Database,
    *,
    now: datetime | None = None,
    http: httpx.Client | None = None,
    limit: int = 200,
    trusted: Iterable[TrustedHost] | None = None,
    getaddrinfo: Resolver = socket.getaddrinfo,
) -> int:
    """Send every due delivery once (claimed first); returns how many attempts were made.

    Each URL passes ``check_webhook_url`` again first (``trusted`` defaults to ``webhook_hosts()``).
    """
    now = now or utcnow()
    allowed = webhook_hosts() if trusted is None else tuple(trusted)
    with db.unit_of_work() as session:
        due = list(
            session.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= now
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
            )
        )
    if not due:
        return 0
    client = http or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
    attempts = 0
    try:
        for delivery_id in due:
            claimed = _claim(db, delivery_id, now)
            if claimed is None:
                continue
            url, body, headers = claimed
            try:
                check_webhook_url(url, allowed, getaddrinfo=getaddrinfo)
            except InvalidValueError as exc:
                _refuse(db, delivery_id, now, f"{ErrorType.INVALID_DATA}: {exc}")
                attempts += 1
                log.warning(
                    "pricing.webhook.refused",
                    extra={
                        "delivery_id": delivery_id,
                        "error_type": ErrorType.INVALID_DATA,
                        "reason": str(exc),
                    },
                )
                continue
            started = time.monotonic()
            status_code: int | None = None
            error: str | None = None
            try:
                response = client.post(url, content=body, headers=headers)
                status_code = response.status_code
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            ms = int((time.monotonic() - started) * 1000)
            outcome = _record(db, delivery_id, now, status_code, error, ms)
            attempts += 1
            log.info(
                "pricing.webhook.attempt",
                extra={"delivery_id": delivery_id, "status_code": status_code, "outcome": outcome},
            )
    finally:
        if http is None:
            client.close()
    return attempts


def deliveries_of(db_session: Any, tracker_id: str, limit: int = 100) -> list[WebhookDelivery]:
    """The tracker's delivery log, newest first."""
    return list(
        db_session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.tracker_id == tracker_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )
