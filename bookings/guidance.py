"""What a resident should bring and know, per procedure (pages, e-mails and the .ics alike)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .eligibility import REQUIRED

# Procedures at the counter that need the signature certificate and its PIN, typed by the
# resident at the self-service terminal. We never ask for it.
NEEDS_SIGNATURE_PIN = ("one-stop", "portal-link")

# Procedures that write onto the IC chip (those that ask whether it has room left).
WRITES_TO_CHIP = tuple(code for code, keys in REQUIRED.items() if "chip_has_space" in keys)


def what_to_bring(procedure_code: str, *, with_qr: bool = False) -> list[Promise]:
    """The one list of what to bring, for the pages, the e-mails and the calendar file alike;
    `with_qr` on a page that shows the reference's QR code (the done and manage pages)."""
    items: list[Promise] = [
        _("マイナンバーカード（ご本人のもの）"),
        _("運転免許証（お持ちの方）"),
    ]
    if with_qr:
        items.append(_("予約番号（この画面のQRコードを窓口で見せても構いません）"))
    if procedure_code in NEEDS_SIGNATURE_PIN:
        items.append(
            _(
                "署名用電子証明書の暗証番号（英数字6〜16桁）を覚えておいてください。"
                "窓口の端末にご自身で入力します。このサイトでは入力しません。"
            )
        )
    if procedure_code in WRITES_TO_CHIP:
        items.append(
            _(
                "ICチップに空きが足りないと、その日はこの手続ができません。"
                "窓口で確かめたうえで、どうすればよいかをご案内します。"
            )
        )
    return items
