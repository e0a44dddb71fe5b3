"""The desk page: what it shows of today's sessions, how its form becomes a request, where each
error goes, and that names come out exactly as written."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from services.assist.domain import WARD_TZ, AssistError, AssistRequest, CheckIn, Session
from services.assist.pages import KIT
from services.assist.web import desk
from services.assist.web.texts import ACTIONS, FACES, FIELDS, OUTCOMES, REASONS

NOW = datetime(2025, 9, 8, 8, 10, tzinfo=WARD_TZ)
MEMBERS = {"hoa": ("Nguyễn Thị Hoa", True), "binh": ("Lê Văn Bình", True),
           "an": ("Trần <An> & \"Bé\"", True), "cu": ("Võ Văn Cũ", False)}


def session(shift_id: str, start: tuple[int, int], hours: int = 4, **extra) -> Session:
    starts = NOW.replace(hour=start[0], minute=start[1])
    return Session("ban-thach", shift_id, starts, starts + timedelta(hours=hours),
                   "service_center", **extra)


def checkin(member: str, shift_id: str, minute: int, out: int | None = None) -> CheckIn:
    at = NOW.replace(minute=minute)
    return CheckIn(f"c-{member}", "ban-thach", shift_id, member, at, member != "hoa",
                   NOW.replace(minute=out) if out is not None else None)


def view(me: str | None = "hoa") -> desk.DeskView:
    sessions = [session("am", (7, 30), assigned=frozenset({"hoa", "binh", "ghost"})),
                session("pm", (13, 30)), session("ev", (18, 0), 2, cancelled=True,
                                                 cancel_reason="mất điện"),
                session("early", (5, 0), 2)]
    checkins = [checkin("binh", "am", 5), checkin("hoa", "am", 2, out=9)]
    return desk.build_view(sessions=sessions, checkins=checkins, members=MEMBERS, me=me, now=NOW,
                           checkin_early=timedelta(minutes=30))


def test_each_session_says_whether_check_in_is_open_upcoming_over_or_cancelled() -> None:
    states = {s.shift_id: s.state for s in view().sessions}
    assert states == {"am": "open", "pm": "upcoming", "ev": "cancelled", "early": "over"}
    pm = next(s for s in view().sessions if s.shift_id == "pm")
    assert (pm.starts, pm.ends, pm.opens, pm.period) == ("13:30", "17:30", "13:00", "afternoon")


def test_a_session_lists_who_checked_in_in_order_and_the_volunteers_own_check_in() -> None:
    am = view().sessions[0]
    assert [(p.person.name, p.at, p.out, p.stand_in) for p in am.present] == [
        ("Nguyễn Thị Hoa", "08:02", "08:09", False), ("Lê Văn Bình", "08:05", None, True)]
    assert am.mine is not None and am.mine.out == "08:09" and am.mine_id == "c-hoa"
    # An assigned member the roster has not named yet shows by id.
    assert [p.name for p in am.assigned] == ["Lê Văn Bình", "ghost", "Nguyễn Thị Hoa"]


def test_people_to_pick_are_todays_then_every_active_member_by_given_name() -> None:
    found = view(me=None)
    assert [p.member_id for p in found.today_people] == ["binh", "ghost", "hoa"]
    assert [p.member_id for p in found.all_people] == ["an", "binh", "hoa"]  # Cũ is deactivated
    assert found.me is None
    assert view(me="nobody").me is None


def form(**values: str | list[str]) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in values.items()}


def test_the_form_becomes_the_apis_request() -> None:
    body = desk.assist_body(form(assist_id="", field="land", actions=["form_filling", ""],
                                 outcome="submitted_online", dossier_id=" H46.25 -000123 ",
                                 reason="other", satisfaction="5"), "hoa")
    assert body == {"member_ids": ["hoa"], "field": "land", "actions": ["form_filling"],
                    "outcome": "submitted_online", "dossier_id": "H46.25-000123",
                    "satisfaction": "5"}
    assert AssistRequest.model_validate(body).satisfaction == 5


def test_a_hidden_stale_value_never_refuses_the_form() -> None:
    """Without :has() support every part shows; only what the outcome needs is sent."""
    done = desk.assist_body(form(field="land", outcome="not_completed", reason="other",
                                 dossier_id="H1"), "hoa")
    assert "dossier_id" not in done and done["reason"] == "other"
    online = desk.assist_body(form(field="land", outcome="referred_to_counter",
                                   reason="other"), "hoa")
    assert "reason" not in online


def refusal(**values) -> ValidationError:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as caught:
        AssistRequest.model_validate(desk.assist_body(form(**values), values.pop("me", "hoa")))
    return caught.value


def test_each_refusal_goes_next_to_its_field_in_vietnamese() -> None:
    assert desk.errors_of(refusal()) == {"field": "err.field.field", "outcome": "err.field.outcome"}
    assert desk.errors_of(refusal(field="land", outcome="online")) == {
        "outcome": "err.field.outcome"}
    assert desk.errors_of(refusal(field="land", outcome="submitted_online", dossier_id="a b/c")) \
        == {"dossier_id": "err.field.dossier_id"}
    assert desk.errors_of(refusal(field="land", outcome="submitted_online", dossier_id="X",
                                  satisfaction="9")) == {"satisfaction": "err.field.satisfaction"}
    rule = AssistError("dossier_required", "dossier_id is required", field="dossier_id")
    assert desk.errors_of(rule) == {"dossier_id": "err.dossier_required"}
    assert desk.errors_of(AssistError("unknown_member", "x", field="member_ids")) == {
        "member": "err.unknown_member"}
    assert desk.errors_of(AssistError("no_current_session", "x", field="shift_id")) == {
        "general": "err.no_current_session"}
    assert desk.errors_of(AssistError("new_code", "x", field="reason")) == {
        "reason": "err.field.reason"}
    t = KIT.texts.translator("vi")
    assert t("err.dossier_required") == "Nhập mã hồ sơ khi đã nộp trực tuyến."


def render(lang: str = "vi", **overrides) -> str:  # type: ignore[no-untyped-def]
    context = dict(t=KIT.texts.translator(lang), lang=lang, other_lang="en",
                   lang_switch_url="/x?lang=en", ward="ban-thach", view=view(), day=NOW.date(),
                   errors={}, form_errors=False, count=2, values=desk.blank_values("a-1"),
                   done=None, is_operator=False, fields=FIELDS, actions=ACTIONS,
                   outcomes=OUTCOMES, reasons=REASONS, faces=FACES)
    context.update(overrides)
    return KIT.env.get_template("desk.html").render(**context)


def test_names_with_diacritics_and_html_characters_come_out_as_written() -> None:
    html = render()
    assert "Nguyễn Thị Hoa" in html and "Lê Văn Bình" in html
    assert "Trần &lt;An&gt; &amp; &#34;Bé&#34;" in html
    assert "<An>" not in html


def test_every_input_has_a_label() -> None:
    html = render()
    for name in ("field", "outcome", "reason", "satisfaction", "actions"):
        # radio and checkbox inputs sit inside their <label>
        assert len(re.findall(rf'<label class="(?:choice|face|check)"><input type="(?:radio|checkbox)" '
                              rf'name="{name}"', html)) == len(re.findall(rf'name="{name}"', html))
    for input_id in ("member_id", "dossier_id"):
        assert f'<label for="{input_id}">' in html and f'id="{input_id}"' in html
    assert html.count('type="radio" name="satisfaction"') == 6  # five faces and "skip"


def test_errors_sit_next_to_their_fields_and_mark_them_invalid() -> None:
    html = render(errors={"dossier_id": "err.dossier_required", "reason": "err.field.reason"},
                  form_errors=True, values={**desk.blank_values("a-1"),
                                            "outcome": "submitted_online", "field": "land"})
    assert '<p class="error" id="dossier_id-error">Nhập mã hồ sơ khi đã nộp trực tuyến.</p>' in html
    assert 'aria-describedby="dossier-hint dossier_id-error"' in html
    assert 'id="reason-error">Chọn lý do chưa hoàn thành.' in html
    assert 'value="submitted_online" checked' in html and 'value="land" checked' in html
    assert "Chưa lưu được" in html


def test_the_volunteer_sees_check_out_where_checked_in_and_check_in_where_open() -> None:
    html = render(view=view(me="binh"))
    assert "Kết thúc ca (ra về)" in html and 'name="checkin_id" value="c-binh"' in html
    html = render(view=view(me="an"))
    assert html.count('class="btn primary wide big checkin"') == 1  # only the open session
    assert "Điểm danh mở lúc 13:00" in html and "Ca đã hủy: mất điện" in html


def test_the_page_reads_in_english_on_request() -> None:
    html = render("en")
    assert "Who are you?" in html or "You: Nguyễn Thị Hoa" in html
    assert "Log a citizen helped" in html and "Birth registration, civil status" in html
    assert '<html lang="en">' in html


def test_operators_get_the_qr_code_link() -> None:
    assert "/desk/qr" not in render()
    assert 'href="/wards/ban-thach/desk/qr"' in render(is_operator=True)
