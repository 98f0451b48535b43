"""One example event per type, in an order that ingests whole, over the example district.

They refer to `config/examples/roster.yaml` (officials, units, enterprises, project `p-hd1`), so
a user can send them to a daemon holding that roster. docs/events.md shows the same examples and
a test holds the two equal; the OpenAPI document offers them on `POST /v1/events`.
"""

from __future__ import annotations

from typing import Any

ENTERPRISE = "91321311MA04RXUNW1"  # paired with o-spj-1 in the example roster
OTHER_ENTERPRISE = "91321311MA00B10J7H"

# In this order each event finds what it refers to: a case is opened before it is put on an
# agenda, assigned, escalated or closed; a review is given before it is rectified.
EXAMPLES: dict[str, dict[str, Any]] = {
    "visit": {
        "id": "ex-visit-1",
        "type": "visit",
        "at": "2024-11-05T14:30:00+08:00",
        "official": "o-spj-1",
        "enterprise": ENTERPRISE,
        "talked_with_head": True,
    },
    "contact": {
        "id": "ex-contact-1",
        "type": "contact",
        "at": "2024-11-12T10:00:00+08:00",
        "official": "o-spj-1",
        "enterprise": ENTERPRISE,
        "channel": "wechat",
    },
    "policy_briefing": {
        "id": "ex-briefing-1",
        "type": "policy_briefing",
        "at": "2024-11-14T15:00:00+08:00",
        "unit": "u-gxj",
        "enterprises": [ENTERPRISE, OTHER_ENTERPRISE],
    },
    "matchmaking": {
        "id": "ex-matchmaking-1",
        "type": "matchmaking",
        "at": "2024-11-19T09:30:00+08:00",
        "official": "o-spj-1",
        "enterprise": ENTERPRISE,
        "partner": "宿迁恒通供应链有限公司",
    },
    "forum": {"id": "ex-forum-1", "type": "forum", "at": "2024-11-20T14:00:00+08:00", "unit": "u-gxj"},
    "salon": {"id": "ex-salon-1", "type": "salon", "at": "2024-11-21T14:00:00+08:00", "unit": "u-spj"},
    "report": {
        "id": "ex-report-1",
        "type": "report",
        "at": "2024-11-08T16:00:00+08:00",
        "unit": "u-ysb",
        "kind": "bad_reviews",
        "period": "2024-10",
    },
    "case_opened": {
        "id": "ex-case-opened-1",
        "type": "case_opened",
        "at": "2024-11-04T09:30:00+08:00",
        "case": "C20241104901",
        "enterprise": ENTERPRISE,
        "channel": "window",
        "complexity": "major",
        "category": "用地",
        "unit": "u-spj",
        "summary": "厂房扩建用地手续办理缓慢",
    },
    "coordination_meeting": {
        "id": "ex-meeting-1",
        "type": "coordination_meeting",
        "at": "2024-11-22T09:00:00+08:00",
        "unit": "u-gxj",
        "cases": ["C20241104901"],
    },
    "case_assigned": {
        "id": "ex-case-assigned-1",
        "type": "case_assigned",
        "at": "2024-11-04T11:00:00+08:00",
        "case": "C20241104901",
        "unit": "u-zs",
    },
    "case_feedback": {
        "id": "ex-case-feedback-1",
        "type": "case_feedback",
        "at": "2024-11-08T17:00:00+08:00",
        "case": "C20241104901",
        "unit": "u-zs",
    },
    "case_escalated": {
        "id": "ex-case-escalated-1",
        "type": "case_escalated",
        "at": "2024-11-12T09:00:00+08:00",
        "case": "C20241104901",
        "level": 2,
    },
    "case_closed": {
        "id": "ex-case-closed-1",
        "type": "case_closed",
        "at": "2024-11-25T16:00:00+08:00",
        "case": "C20241104901",
        "satisfaction": "basically_satisfied",
    },
    "case_reopened": {
        "id": "ex-case-reopened-1",
        "type": "case_reopened",
        "at": "2024-11-27T10:00:00+08:00",
        "case": "C20241104901",
        "note": "企业反映用地手续仍未办结",
    },
    "review": {
        "id": "ex-review-1",
        "type": "review",
        "at": "2024-11-06T10:20:00+08:00",
        "review": "R20241106901",
        "unit": "u-spj",
        "rating": 2,
        "channel": "PC端",
    },
    "review_rectified": {
        "id": "ex-review-rectified-1",
        "type": "review_rectified",
        "at": "2024-11-15T16:00:00+08:00",
        "review": "R20241106901",
    },
    "project_item_done": {
        "id": "ex-item-done-1",
        "type": "project_item_done",
        "at": "2024-11-18T11:00:00+08:00",
        "project": "p-hd1",
        "item": "i3",
    },
}
