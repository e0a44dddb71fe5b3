"""What every page route uses: its language, its templates and texts, sign-in and 403 pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from shared.web import i18n, render
from shared.web.access import PageDenied
from shared.web.i18n import Texts

COMMON = Texts({
    "app": ("Tổ công nghệ số cộng đồng", "Community digital technology team"),
    "switch_lang": ("English", "Tiếng Việt"),
    "skip": ("Bỏ qua, đến nội dung chính", "Skip to the main content"),
    "nav.top": ("Ngôn ngữ và tài khoản", "Language and account"),
    "signin.title": ("Đăng nhập", "Sign in"),
    "signin.lead": ("Quét mã QR do cán bộ phường in, hoặc dán mã đăng nhập vào ô dưới đây.",
                    "Scan the QR code printed by the ward's operator, or paste your sign-in code "
                    "below."),
    "signin.token": ("Mã đăng nhập", "Sign-in code"),
    "signin.ward": ("Mã phường (chỉ với mã dùng cho mọi phường)",
                    "Ward id (only for a code valid for every ward)"),
    "signin.submit": ("Đăng nhập", "Sign in"),
    "signin.token_missing": ("Hãy dán mã đăng nhập.", "Paste your sign-in code."),
    "signin.token_invalid": ("Mã đăng nhập không hợp lệ.", "This sign-in code is not valid."),
    "signin.token_unknown": ("Mã đăng nhập không có trong hệ thống.", "This sign-in code is unknown."),
    "signin.token_expired": ("Mã đăng nhập đã hết hạn. Xin mã mới.",
                             "This sign-in code has expired. Ask for a new one."),
    "signin.token_revoked": ("Mã đăng nhập đã bị thu hồi. Xin mã mới.",
                             "This sign-in code was revoked. Ask for a new one."),
    "signin.role_too_weak": ("Mã này không dùng được cho trang này.",
                             "This code cannot be used for this page."),
    "signin.ward_required": ("Mã này dùng cho mọi phường: nhập mã phường.",
                             "This code is valid for every ward: enter the ward id."),
    "signin.ward_invalid": ("Mã phường chỉ gồm chữ thường, số và dấu gạch ngang.",
                            "A ward id has lowercase letters, digits and hyphens only."),
    "denied.title": ("Không có quyền xem", "Not allowed"),
    "denied.wrong_ward": ("Mã đăng nhập của bạn dành cho phường khác.",
                          "Your sign-in code is for another ward."),
    "denied.role_too_weak": ("Mã đăng nhập của bạn không đủ quyền cho trang này.",
                             "Your sign-in code does not allow this page."),
    "denied.cross_origin": ("Biểu mẫu không được gửi từ trang này.",
                            "The form was not sent from this site."),
    "denied.again": ("Đăng nhập bằng mã khác", "Sign in with another code"),
    "signout": ("Đăng xuất", "Sign out"),
})


class PageKit:
    """One service's page machinery: its Jinja environment and its texts (over the common)."""

    def __init__(self, env: Environment, texts: Texts) -> None:
        self.env = env
        self.texts = COMMON | texts

    def lang(self, request: Request) -> str:
        return i18n.pick_lang(request.query_params.get("lang"),
                              request.cookies.get(i18n.LANG_COOKIE))

    def render(self, request: Request, template: str, status: int = 200, **context: Any
               ) -> HTMLResponse:
        lang = self.lang(request)
        other = "en" if lang == "vi" else "vi"
        query = {k: v for k, v in parse_qs(request.url.query).items()
                 if k not in ("lang", "token", "done")}
        switch = f"{request.url.path}?{urlencode({**query, 'lang': other}, doseq=True)}"
        response = render.page(self.env, template, status, t=self.texts.translator(lang),
                               lang=lang, other_lang=other, lang_switch_url=switch, **context)
        if request.query_params.get("lang") in i18n.LANGS:
            response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 24 * 3600, path="/",
                                samesite="lax")
        return response

    def denied(self, request: Request, exc: PageDenied, *, signin_url: str) -> HTMLResponse:
        """The sign-in page (401) or the 403 page: never any data."""
        if exc.status == 401:
            error = None if exc.code == "token_missing" else f"signin.{exc.code}"
            if error and not self.texts.has(error):
                error = "signin.token_invalid"
            return self.signin(request, action=signin_url, error=error, status=401)
        code = exc.code if self.texts.has(f"denied.{exc.code}") else "role_too_weak"
        return self.render(request, "denied.html", 403, message_key=f"denied.{code}",
                           signin_url=signin_url)

    def signin(self, request: Request, *, action: str, error: str | None = None,
               ask_ward: bool = False, status: int = 200) -> HTMLResponse:
        return self.render(request, "signin.html", status, action=action, error=error,
                           ask_ward=ask_ward)
