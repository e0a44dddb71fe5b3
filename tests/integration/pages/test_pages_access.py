"""The pages answer as the APIs do: no token, the sign-in page; another ward's token or too weak
a role, 403; never any of the ward's data."""

from __future__ import annotations

import httpx
import pytest

from .conftest import MEMBERS, TEAM, Ward

pytestmark = pytest.mark.integration
NAMES = [*MEMBERS.values(), TEAM[1]]

# page -> (service, path, entry, weakest role)
PAGES = {"desk": ("assist", "/wards/{w}/desk", "/desk", "desk"),
         "report": ("reporting", "/wards/{w}/report/page", "/report", "viewer")}


def url_of(ward: Ward, page: str) -> tuple[str, str]:
    service, path, entry, _ = PAGES[page]
    base = getattr(ward, service).url
    return base + path.format(w=ward.ward_id), base + entry


def no_data(answer: httpx.Response, ward: Ward) -> None:
    text = answer.text
    assert not any(name in text for name in NAMES), "the ward's data leaked"
    assert "<table" not in text and "checkin" not in text


@pytest.mark.parametrize("page", PAGES)
async def test_without_a_token_a_page_is_the_sign_in_page(ward: Ward, page: str) -> None:
    url, entry = url_of(ward, page)
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(url)
    assert answer.status_code == 401
    assert f'action="{PAGES[page][2]}"' in answer.text and 'name="token"' in answer.text
    no_data(answer, ward)


@pytest.mark.parametrize("how", ["bearer", "cookie"])
@pytest.mark.parametrize("page", PAGES)
async def test_another_wards_token_gets_403_and_no_data(ward: Ward, page: str, how: str) -> None:
    url, _ = url_of(ward, page)
    token = await ward.token("another-ward", "operator")
    sent = ({"headers": {"Authorization": f"Bearer {token}"}} if how == "bearer"
            else {"cookies": {"cdt_token": token}})
    async with httpx.AsyncClient(timeout=10, **sent) as http:
        answer = await http.get(url)
    assert answer.status_code == 403
    assert "phường khác" in answer.text
    no_data(answer, ward)


@pytest.mark.parametrize("page", PAGES)
async def test_a_bad_token_gets_the_sign_in_page(ward: Ward, page: str) -> None:
    url, _ = url_of(ward, page)
    async with httpx.AsyncClient(timeout=10, cookies={"cdt_token": "not.a.token"}) as http:
        answer = await http.get(url)
    assert answer.status_code == 401 and 'name="token"' in answer.text
    no_data(answer, ward)


async def test_a_viewer_token_does_not_open_the_desk(ward: Ward) -> None:
    url, entry = url_of(ward, "desk")
    viewer = await ward.token(ward.ward_id, "viewer")
    async with httpx.AsyncClient(timeout=10) as http:
        page = await http.get(url, headers={"Authorization": f"Bearer {viewer}"})
        signin = await http.get(entry, params={"token": viewer})
    assert page.status_code == 403 and signin.status_code == 403
    no_data(page, ward)
    assert "cdt_token" not in signin.headers.get("set-cookie", "")


@pytest.mark.parametrize("page", PAGES)
async def test_a_token_for_every_ward_opens_the_page_it_names(ward: Ward, page: str) -> None:
    url, entry = url_of(ward, page)
    token = await ward.token("*", "operator")
    async with httpx.AsyncClient(timeout=10) as http:
        asked = await http.get(entry, params={"token": token})
        chosen = await http.post(entry, data={"token": token, "ward": ward.ward_id})
        opened = await http.get(url, headers={"Authorization": f"Bearer {token}"})
    assert asked.status_code == 400 and 'name="ward"' in asked.text
    assert chosen.status_code == 303
    assert chosen.headers["location"] == PAGES[page][1].format(w=ward.ward_id)
    assert opened.status_code == 200


async def test_the_sign_in_link_sets_a_strict_cookie_for_the_tokens_ward_only(ward: Ward) -> None:
    _, entry = url_of(ward, "report")
    other = await ward.token("another-ward", "viewer")
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(entry, params={"token": other})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/wards/another-ward/report/page"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/wards/another-ward/report" in cookie


async def test_a_table_download_needs_the_wards_token(ward: Ward) -> None:
    url = f"{ward.reporting.url}/wards/{ward.ward_id}/report/tables/teams.csv"
    async with httpx.AsyncClient(timeout=10) as http:
        anonymous = await http.get(url)
        foreign = await http.get(url, headers={
            "Authorization": f"Bearer {await ward.token('another-ward', 'viewer')}"})
        own = await http.get(url, headers={
            "Authorization": f"Bearer {await ward.token(ward.ward_id, 'viewer')}"})
    assert (anonymous.status_code, foreign.status_code, own.status_code) == (401, 403, 200)
    assert TEAM[1] not in anonymous.text + foreign.text
    assert TEAM[1] in own.text


async def test_the_qr_code_page_is_for_operators(ward: Ward) -> None:
    url = f"{ward.assist.url}/wards/{ward.ward_id}/desk/qr"
    async with httpx.AsyncClient(timeout=10) as http:
        desk = await http.post(url, data={"days": "7"}, headers={
            "Authorization": f"Bearer {await ward.token(ward.ward_id, 'desk')}"})
        operator = await http.post(url, data={"days": "7"}, headers={
            "Authorization": f"Bearer {await ward.token(ward.ward_id, 'operator')}"})
        assert desk.status_code == 403 and "<svg" not in desk.text
        assert operator.status_code == 200 and '<svg role="img"' in operator.text
        link = operator.text.split("<code>")[1].split("</code>")[0].replace("&amp;", "&")
        assert link.startswith(f"{ward.assist.url}/desk?token=")
        # The printed link signs a volunteer in to this ward's desk.
        signed = await http.get(link)
    assert signed.status_code == 303
    assert signed.headers["location"] == f"/wards/{ward.ward_id}/desk"


async def test_a_form_from_another_site_is_refused(ward: Ward) -> None:
    url = f"{ward.assist.url}/wards/{ward.ward_id}/desk/checkin"
    async with httpx.AsyncClient(timeout=10, cookies={
            "cdt_token": await ward.token(ward.ward_id, "desk")}) as http:
        answer = await http.post(url, data={"member_id": list(MEMBERS)[2],
                                            "shift_id": ward.shift_id},
                                 headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403
