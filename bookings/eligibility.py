"""Who may book what: the yes/no questions and the rule table, as data, in one place.

Each question is answered yes (True) or no (False) under its API key. A question rules a procedure
out when the answer equals `rules_out_when`, with the contract's reason code. A procedure asks only
the questions listed for it; nothing else is asked. Never a My Number, never a PIN.

On the pages every question reads the same way round: 「はい」 is always the fine answer. Where the
API key's meaning is the other way round (`licence_suspended`: true rules out), the page asks the
opposite question under its own field name (`page_key`) and the form maps it back to the key.
An `optional` answer that is absent counts as fine (the contract's `chip_has_space`); on the page
such a question also offers 「分からない」, which leaves the answer out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Question:
    key: str
    text: str
    rules_out_when: bool
    reason: str
    what_to_do: str
    optional: bool = False
    unsure_note: str = ""  # what happens to a resident who does not know (optional questions)
    page_key: str = ""  # the page's field name when it is not `key` (the page asks it turned round)

    @property
    def fine(self) -> bool:
        """The API value of the answer that does not rule the procedure out."""
        return not self.rules_out_when

    @property
    def field_name(self) -> str:
        return self.page_key or self.key


QUESTIONS: dict[str, Question] = {
    q.key: q
    for q in [
        Question(
            "card_valid",
            _("お持ちのマイナンバーカードは有効期限内ですか？"),
            False,
            "card_expired",
            _("先にお住まいの市区町村でカードの更新をしてから、予約してください。"),
        ),
        Question(
            "chip_ok",
            _("カードのICチップは壊れておらず、問題なく使えますか？"),
            False,
            "chip_damaged",
            _("市区町村でカードを再発行してから予約するか、免許証の交付を申請してください。"),
        ),
        Question(
            "chip_has_space",
            _("カードのICチップに、免許の情報を書き込む空きがありますか？"),
            False,
            "chip_full",
            _(
                "ICチップに空きがないと、免許の情報は書き込めません。"
                "空きを作れるかどうか、先にお住まいの市区町村の窓口でご相談ください。"
                "カードの更新や再発行が必要になることもあります。"
            ),
            optional=True,
            unsure_note=_(
                "分からなくても予約できます。窓口でカードを読み取って確かめ、"
                "空きが足りないときは、その日は記録できません（市区町村での手続のあと、もう一度ご予約ください）。"
            ),
        ),
        Question(
            "licence_suspended",
            # Asked the other way round on the page, so that 「はい」 is the fine answer here too.
            _("運転免許は、停止処分を受けずに使える状態ですか？（停止処分中の方は「いいえ」）"),
            True,
            "licence_suspended",
            _("停止処分の期間中は、カードへの記録はできません。"),
            page_key="licence_not_suspended",
        ),
        Question(
            "card_only",
            _("運転免許をマイナンバーカードだけで持っていますか（免許証は持っていない）？"),
            False,
            "not_card_only",
            _("ワンストップサービスは、免許をカードだけで持っている方が対象です。"),
        ),
        Question(
            "signature_cert_valid",
            _("カードの署名用電子証明書は有効期限内ですか？"),
            False,
            "signature_cert_invalid",
            _("市区町村で署名用電子証明書を更新してから予約してください。"),
        ),
        Question(
            "knows_signature_pin",
            _("署名用電子証明書の暗証番号（6〜16桁の英数字）を覚えていますか？（ここには入力しません）"),
            False,
            "pin_unknown",
            _("暗証番号が分からない場合は、市区町村で再設定してから予約してください。"),
        ),
    ]
}

_CARD = ("card_valid", "chip_ok", "chip_has_space", "licence_suspended")

# The rule table: which answers each procedure needs. `erase` and `holding-change` need none
# (assumed; the FAQ names no condition for them).
REQUIRED: dict[str, tuple[str, ...]] = {
    "record": _CARD,
    "re-record": _CARD,
    "portal-link": _CARD,
    "one-stop": (*_CARD, "card_only", "signature_cert_valid", "knows_signature_pin"),
    "erase": (),
    "holding-change": (),
}


def questions_for(procedure_code: str) -> list[Question]:
    return [QUESTIONS[key] for key in REQUIRED.get(procedure_code, ())]


def missing_answers(procedure_code: str, answers: Mapping[str, object]) -> dict[str, list[str]]:
    """Field errors for required answers that are absent or not yes/no."""
    errors: dict[str, list[str]] = {}
    for key in REQUIRED.get(procedure_code, ()):
        if key not in answers:
            if QUESTIONS[key].optional:  # absent counts as the fine answer
                continue
            errors[f"answers.{key}"] = ["This answer is required for this procedure."]
        elif not isinstance(answers[key], bool):
            errors[f"answers.{key}"] = ["Answer true or false."]
    return errors


def reasons_against(procedure_code: str, answers: Mapping[str, object]) -> list[str]:
    """Reason codes that rule the procedure out, in the order of the questions."""
    return [
        QUESTIONS[key].reason
        for key in REQUIRED.get(procedure_code, ())
        if answers.get(key) is QUESTIONS[key].rules_out_when
    ]


def kept_answers(procedure_code: str, answers: Mapping[str, object]) -> dict[str, bool]:
    """Only the answers the procedure asks for, and were given, are stored."""
    return {key: bool(answers[key]) for key in REQUIRED.get(procedure_code, ()) if key in answers}
