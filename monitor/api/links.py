"""The alert page an action link opens (`/l/<token>`), its actions, and revoking an official's links.

No sign-in: the link is the credential (monitor/alerts/links.py), so the page and its forms accept only
what the link allows, for the official it names. Forms carry the token in a field and are posted
to this origin; that is CSRF-safe because a forger would need the token itself, and pages send
`Referrer-Policy: no-referrer` so the address never leaves in a Referer. Every refusal is one
plain 403 page that says nothing about which check failed.

Actions go through the normal paths: acknowledging is `monitor.alerts.acks.acknowledge`, as the API's;
feedback, visits and contacts are events through `ingest_events`, validated as the ledgers'
are, with an id derived from the link and the action so that a double submit is a duplicate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from monitor.alerts.acks import acknowledge
from monitor.alerts.links import PATH, Link, generation_of, revoke, sign, verify
from monitor.api.auth import Admin, ServiceDep, client_of
from monitor.api.now import Now
from monitor.api.status import HEADERS, templates
from monitor.audit import add_entry
from monitor.clock import SHANGHAI
from monitor.ingest.commit import commit_retrying
from monitor.ingest.events import CONTACT_CHANNELS, ingest_events
from monitor.ingest.outcome import RecordOutcome
from monitor.rulebook import Rule
from monitor.runtime.service import Service
from monitor.store.models import AlertRecord, Notification, Official
from monitor.subjects import Subject

router = APIRouter()
MAX_FORM_FIELDS = 12  # the largest form has eight; a few spare for browsers and extensions
MAX_NOTE = 200  # a short text, typed on a phone
ROLE_WORDS = {
    "owner": "责任人",
    "unit_head": "单位负责人",
    "business_office": "区营商办",
    "conduct_office": "区作风办",
    "district_leader": "分管区领导",
    "project_manager": "项目负责人",
    "project_unit_head": "项目单位负责人",
    "project_leader": "项目挂钩区领导",
}
STATE_WORDS = {"warning": "提醒", "overdue": "逾期", "resolved": "已解决"}
DONE_WORDS = {
    "ack": "已确认收到，本事项不再向上级升级通知。",
    "feedback": "已登记向企业的反馈，下一次核查时计时停止。",
    "visit": "已登记走访，下一次核查时计入。",
    "contact": "已登记联系，下一次核查时计入。",
}
# the contact channels the event schema admits, each with the word the page shows
CONTACT_WORDS = dict(zip(CONTACT_CHANNELS, ("电话", "微信", "平台", "其他"), strict=True))


class Refused(Exception):
    """The link does not open anything: malformed, tampered, expired, revoked, or its alert gone."""


@dataclass
class Opened:
    """What a valid link opened: its official, its alert, and what the page may offer."""

    link: Link
    official: Official
    alert: AlertRecord
    rule: Rule | None
    actions: list[str] = field(default_factory=list)  # feedback, visit, contact (ack always)


def _prefix(service: Service) -> str:
    """The path the reverse proxy publishes the daemon under ("" at the root, "/dutywatch" for
    https://host/dutywatch): the pages' forms, links and redirects go through it, as the phone
    sees the daemon."""
    public = service.settings.links.public_url
    return urlsplit(public).path.rstrip("/") if public else ""


def _refused() -> HTMLResponse:
    body = templates().get_template("link_refused.html.j2").render()
    return HTMLResponse(body, status_code=403, headers=HEADERS)


def _actions(rule: Rule | None, alert: AlertRecord, official: Official) -> list[str]:
    """The records this alert's duty is met by, that a phone can make: feedback on a case clock
    (whoever the ladder told may record it: the unit gave it), a visit or a contact for a
    pairing's period duty — offered only to the paired official, or an official of the paired
    unit, since only their visit counts for the pairing; a unit head told of a missed visit
    acknowledges instead of recording a visit that would not count."""
    if rule is None or alert.state == "resolved":
        return []
    if rule.obligation == "case_clock" and alert.subject.startswith("case:"):
        return ["feedback"] if "case_feedback" in rule.fulfilled_by.case_events else []
    if rule.obligation == "pairing_activity" and alert.subject.startswith("pairing:"):
        if Subject.parse(alert.subject).id not in (official.id, official.unit_id):  # the pairing's owner
            return []
        return [kind for kind in ("visit", "contact") if kind in rule.fulfilled_by.events]
    return []


def _open(service: Service, session: Session, token: str, now: datetime) -> Opened:
    link = verify(service.link_key(), token, session, now)
    if link is None or link.alert_id is None:  # a digest link lists; it acts on nothing itself
        raise Refused
    official = session.get(Official, link.official_id)
    alert = session.get(AlertRecord, link.alert_id)
    if official is None or alert is None:
        raise Refused
    rule = service.loaded.rulebook.rules.get(alert.rule)
    return Opened(link, official, alert, rule, _actions(rule, alert, official))


def _ladder(session: Session, opened: Opened) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rule's ladder with the steps reached, and who was told when since the alert fired."""
    alert, rule = opened.alert, opened.rule
    steps = [
        {
            "level": step.level,
            "after": step.after_working_days,
            "who": "、".join(ROLE_WORDS.get(r, r) for r in step.notify),
            "reached": alert.level >= step.level,
        }
        for step in (rule.escalation if rule else ())
    ]
    sent = list(
        session.execute(
            select(Notification.created_at, Notification.kind, Notification.recipient)
            .where(Notification.alert_id == alert.id, Notification.created_at >= alert.fired_at)
            .order_by(Notification.created_at)
        )
    )
    ids = sorted({row.recipient for row in sent} - {"group"})
    names: dict[str, str] = {
        row.id: row.name
        for row in session.execute(select(Official.id, Official.name).where(Official.id.in_(ids)))
    }
    told: dict[tuple[datetime, str], set[str]] = {}
    for row in sent:
        who = "群消息" if row.recipient == "group" else names.get(row.recipient, row.recipient)
        told.setdefault((row.created_at, row.kind), set()).add(who)
    history = [
        {"at": at, "kind": kind, "who": "、".join(sorted(people))} for (at, kind), people in told.items()
    ]
    return steps, history


def _digest_page(service: Service, session: Session, link: Link, now: datetime) -> Response:
    """What a daily digest gathered for its official, each with its own link: for the same
    official, expiring with the digest's link (it allows nothing more, nor for longer)."""
    digest = session.get(Notification, link.digest_id)
    if digest is None or digest.kind != "digest" or digest.recipient != link.official_id:
        return _refused()
    official = session.get(Official, link.official_id)
    assert official is not None  # verify checked it
    alert_ids = list(
        dict.fromkeys(
            session.scalars(
                select(Notification.alert_id)
                .where(Notification.digest_id == digest.id, Notification.recipient == official.id)
                .order_by(Notification.id)
            )
        )
    )
    rows = {a.id: a for a in session.scalars(select(AlertRecord).where(AlertRecord.id.in_(alert_ids)))}
    generation = generation_of(session, official.id)
    rules = service.loaded.rulebook.rules
    items = [
        {
            "title": rules[a.rule].title.zh if a.rule in rules else a.rule,
            "alert": a,
            "state_word": STATE_WORDS.get(a.state, a.state),
            "href": f"{_prefix(service)}{PATH}{sign(service.link_key(), official.id, a.id, link.expires, generation)}",
        }
        for a in (rows[i] for i in alert_ids if i in rows)
    ]
    body = (
        templates()
        .get_template("link_digest.html.j2")
        .render(
            district=service.settings.district,
            official=official,
            subject=digest.subject,
            items=items,
            expires=link.expires,
        )
    )
    return HTMLResponse(body, headers=HEADERS)


def _page(service: Service, token: str, now: datetime, done: str | None, error: str | None) -> Response:
    with service.sessions() as session:
        link = verify(service.link_key(), token, session, now)
        if link is not None and link.digest_id is not None:
            return _digest_page(service, session, link, now)
        try:
            opened = _open(service, session, token, now)
        except Refused:
            return _refused()
        steps, history = _ladder(session, opened)
        alert = opened.alert
        local_now = now.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
        body = (
            templates()
            .get_template("link_alert.html.j2")
            .render(
                district=service.settings.district,
                alert=alert,
                rule=opened.rule,
                official=opened.official,
                state_word=STATE_WORDS.get(alert.state, alert.state),
                steps=steps,
                history=history,
                actions=opened.actions,
                token=token,
                now=local_now,
                expires=opened.link.expires,
                acked_by_me=alert.acked_at is not None and alert.acked_by == opened.official.id,
                done=DONE_WORDS.get(done or ""),
                error=error,
                channels=CONTACT_WORDS,
                max_note=MAX_NOTE,
                action=f"{_prefix(service)}/l",
            )
        )
        return HTMLResponse(body, status_code=400 if error else 200, headers=HEADERS)


@router.get("/l/{token}", include_in_schema=False)
async def alert_page(token: str, service: ServiceDep, now: Now, done: str | None = None) -> Response:
    """The alert a link was sent about, with what its official can do about it."""
    return await run_in_threadpool(_page, service, token, now, done, None)


def _field(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0].strip()


def _note_problem(note: str) -> str | None:
    """Why a note typed on the page cannot be kept, or None: too long, or holding a character no
    store keeps faithfully (a NUL: PostgreSQL refuses it) or no reader sees (other control
    characters; line breaks and tabs are text), or a lone surrogate."""
    if len(note) > MAX_NOTE:
        return f"说明不超过{MAX_NOTE}字"
    if any((ord(c) < 32 and c not in "\n\r\t") or ord(c) == 127 for c in note):
        return "说明含有控制字符，请删除后重新提交"
    try:
        note.encode("utf-8")
    except UnicodeEncodeError:
        return "说明含有无法识别的字符"
    return None


def _when(text: str, now: datetime) -> str:
    """A datetime-local field ("2024-11-08T17:00", Asia/Shanghai) as an event time; empty is now."""
    if not text:
        return now.astimezone(SHANGHAI).isoformat(timespec="minutes")
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("时间格式不正确") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=SHANGHAI)
    return at.isoformat(timespec="minutes")


def _event(opened: Opened, action: str, form: dict[str, list[str]], now: datetime) -> dict[str, Any]:
    """The event an action records, as the ledgers would import it; its id says link and action."""
    note = _field(form, "note")
    if (problem := _note_problem(note)) is not None:
        raise ValueError(problem)
    # one id per link and action: a second submit of the same form is a duplicate, not a second
    # record; a different text through the same link is refused as a conflict, not stored twice
    digest = hashlib.sha256(opened.link.token.encode("utf-8")).hexdigest()[:32]
    event: dict[str, Any] = {
        "id": f"link-{digest}-{action}",
        "type": "",
        "at": _when(_field(form, "at"), now),
    }
    by = f"{opened.official.name}经通知链接登记"
    subject = Subject.parse(opened.alert.subject)
    if action == "feedback":
        who = _field(form, "who")
        if not note:
            raise ValueError("请填写反馈内容")
        if len(who) > 50:
            raise ValueError("反馈对象不超过50字")
        event.update(type="case_feedback", case=subject.id, note=f"向{who or '企业'}反馈：{note}（{by}）")
        if opened.official.unit_id:
            event["unit"] = opened.official.unit_id  # who gave it: the official's unit
    elif action == "visit":
        event.update(
            type="visit",
            official=opened.official.id,
            enterprise=subject.enterprise,
            talked_with_head=_field(form, "talked_with_head") == "yes",
            note=f"{note}（{by}）" if note else by,
        )
    else:
        channel = _field(form, "channel")
        if channel not in CONTACT_WORDS:
            raise ValueError("请选择联系方式")
        event.update(
            type="contact",
            official=opened.official.id,
            enterprise=subject.enterprise,
            channel=channel,
            note=f"{note}（{by}）" if note else by,
        )
    return event


_Done = tuple[str | None, list[RecordOutcome], dict[str, Any] | None]  # an error, the outcomes, the event


def _act(service: Service, form: dict[str, list[str]], now: datetime, source: str) -> tuple[str, str | None]:
    """Carry out the form's action; (the token, an error to show) or Refused."""
    token, action = _field(form, "token"), _field(form, "action")

    def work(session: Session) -> _Done:
        opened = _open(service, session, token, now)
        if action == "ack":
            return _acknowledge_by_link(session, opened, _field(form, "note"), now, source), [], None
        if action not in opened.actions:
            raise Refused  # an action this alert does not offer: a forged form, said no more about
        return _record_by_link(service, session, opened, action, form, now, source)

    error, outcomes, event = commit_retrying(service.sessions, work)
    if event is not None:
        service.metrics.count_ingested([event], outcomes)
    return token, error


def _actor(opened: Opened) -> str:
    return f"by link of {opened.official.name} ({opened.official.id})"


def _acknowledge_by_link(
    session: Session, opened: Opened, note: str, now: datetime, source: str
) -> str | None:
    """Acknowledge the alert for the link's official; an error to show, or None."""
    if (problem := _note_problem(note)) is not None:
        return problem
    alert = opened.alert
    if alert.state == "resolved" or (
        alert.acked_at is not None
        and alert.acked_by == opened.official.id
        and alert.acked_at >= alert.fired_at
    ):
        # acknowledged already (a double submit), or nothing left to acknowledge: nothing
        # twice, and the page says how things stand
        return None
    acknowledge(
        session,
        alert,
        who=opened.official.id,
        reason=note or "经通知链接确认收到",
        actor=_actor(opened),
        source=source,
        at=now,
    )
    return None


def _record_by_link(
    service: Service,
    session: Session,
    opened: Opened,
    action: str,
    form: dict[str, list[str]],
    now: datetime,
    source: str,
) -> _Done:
    """Record the feedback, visit or contact as an event, ingested as any other."""
    try:
        event = _event(opened, action, form, now)
    except ValueError as exc:
        return str(exc), [], None
    outcomes = ingest_events(session, [("link", event)], now=now, settings=service.settings)
    outcome = outcomes[0]
    if outcome.status == "rejected":
        if outcome.field == "id" and outcome.reason and outcome.reason.startswith("conflict"):
            return None, outcomes, None  # recorded already through this link, with other words
        return f"未能登记：{outcome.field or ''} {outcome.reason or ''}".strip(), outcomes, event
    if outcome.status == "accepted":
        _audit_record(session, opened, event, source)
    return None, outcomes, event


def _audit_record(session: Session, opened: Opened, event: dict[str, Any], source: str) -> None:
    """The audit log's line for an event recorded through the alert's link."""
    alert = opened.alert
    add_entry(
        session,
        "link.record",
        f"alert {alert.id}",
        actor=_actor(opened),
        source=source,
        detail={
            "event": event["id"],
            "type": event["type"],
            "rule": alert.rule,
            "subject": alert.subject,
        },
    )


@router.post("/l", include_in_schema=False)
async def act(request: Request, service: ServiceDep, now: Now) -> Response:
    """Acknowledge, or record the feedback, visit or contact; then back to the page, which says so."""
    try:
        form = parse_qs(
            (await request.body()).decode("utf-8", errors="replace"), max_num_fields=MAX_FORM_FIELDS
        )
    except ValueError:
        return _refused()
    action = _field(form, "action")
    if action not in DONE_WORDS:
        return _refused()
    try:
        token, error = await run_in_threadpool(_act, service, form, now, client_of(request))
    except Refused:
        return _refused()
    if error is not None:
        return await run_in_threadpool(_page, service, token, now, None, error)
    # Post/Redirect/Get: reloading the page shows it again instead of posting the form twice
    return RedirectResponse(
        f"{_prefix(service)}{PATH}{quote(token, safe='')}?done={action}", status_code=303, headers=HEADERS
    )


@router.post("/v1/officials/{official_id}/links/revoke")
async def revoke_links(
    official_id: str, who: Admin, service: ServiceDep, request: Request, now: Now
) -> dict[str, Any]:
    """Void every action link sent to this official (a lost phone, a changed post). Audited."""
    source = client_of(request)

    def work() -> dict[str, Any]:
        with service.sessions() as session:
            if session.get(Official, official_id) is None:
                raise HTTPException(404, f"no official {official_id!r}")
            generation = revoke(session, official_id, now, who.name)
            add_entry(
                session,
                "links.revoke",
                f"official {official_id}",
                actor=who.name,
                source=source,
                detail={"generation": generation},
            )
            session.commit()
            return {"official": official_id, "generation": generation}

    return await run_in_threadpool(work)
