"""Forms of the resident pages. Validation rules stay in the services (`contact_clean`, eligibility);
these forms only turn what was typed into the values the services take, with messages in the
resident's language."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django import forms
from django.utils.translation import gettext_lazy as _

from scheduler import parsing
from scheduler.errors import InvalidInput
from venues.models import Procedure, Venue

from .contact import Contact, contact_clean
from .eligibility import Question

YES, NO = "yes", "no"


class ProcedureForm(forms.Form):
    procedure = forms.ChoiceField(
        label=_("手続"), widget=forms.RadioSelect, error_messages={"required": _("手続を選んでください。")}
    )

    def __init__(self, *args, procedures: Iterable[Procedure], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["procedure"].choices = [(p.code, p.display_name) for p in procedures]


class QuestionsForm(forms.Form):
    """One yes/no field per question the procedure needs, and nothing else."""

    def __init__(self, *args, questions: Iterable[Question], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.questions = list(questions)
        for question in self.questions:
            self.fields[question.key] = forms.ChoiceField(
                label=question.text,
                choices=[(YES, _("はい")), (NO, _("いいえ"))],
                widget=forms.RadioSelect,
                error_messages={"required": _("「はい」か「いいえ」を選んでください。")},
            )

    def answers(self) -> dict[str, bool]:
        return {key: value == YES for key, value in self.cleaned_data.items()}

    @staticmethod
    def initial_from(answers: dict[str, bool]) -> dict[str, str]:
        return {key: YES if value else NO for key, value in answers.items()}


class VenueForm(forms.Form):
    venue = forms.ChoiceField(error_messages={"required": _("会場を選んでください。")})

    def __init__(self, *args, venues: Iterable[Venue], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["venue"].choices = [(v.code, v.display_name) for v in venues]


class StartForm(forms.Form):
    """The chosen time, as the ISO string the calendar page offered."""

    start = forms.CharField(max_length=40)

    def clean_start(self) -> datetime:
        value = parsing.moment_or_none(self.cleaned_data["start"])
        if value is None:
            raise forms.ValidationError(_("時間を選び直してください。"))
        return value


CONTACT_MESSAGES = {
    "name": _("お名前を入力してください（60文字まで）。"),
    "phone": _(
        "電話番号は、0から始まる10桁か11桁の数字で入力してください（ハイフンはあってもなくても構いません）。"
    ),
    "email": _("メールアドレスの形を確かめてください（例: taro@example.jp）。"),
    "reach": _("電話番号かメールアドレスの、どちらかを入力してください。"),
}


class ContactForm(forms.Form):
    name = forms.CharField(
        label=_("お名前"),
        max_length=60,
        error_messages={"required": CONTACT_MESSAGES["name"], "max_length": CONTACT_MESSAGES["name"]},
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    phone = forms.CharField(
        label=_("電話番号"),
        required=False,
        max_length=30,
        error_messages={"max_length": CONTACT_MESSAGES["phone"]},
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )
    email = forms.CharField(
        label=_("メールアドレス"),
        required=False,
        max_length=254,
        error_messages={"max_length": CONTACT_MESSAGES["email"]},
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        try:
            self.contact = contact_clean(name=data["name"], phone=data["phone"], email=data["email"])
        except InvalidInput as error:
            for field in error.fields:
                if field == "email" and not data["phone"].strip() and not data["email"].strip():
                    self.add_error(None, CONTACT_MESSAGES["reach"])
                elif field in CONTACT_MESSAGES:
                    self.add_error(field, CONTACT_MESSAGES[field])
        return data

    def contact_data(self) -> dict[str, str]:
        """What the session keeps until the booking is made (as typed, to show it again)."""
        return {key: self.cleaned_data[key] for key in ("name", "phone", "email")}


def contact_from(data: dict[str, str]) -> Contact:
    return contact_clean(name=data.get("name", ""), phone=data.get("phone", ""), email=data.get("email", ""))


class LookupForm(forms.Form):
    reference = forms.CharField(
        label=_("予約番号"),
        max_length=12,
        error_messages={"required": _("予約番号を入力してください。")},
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
    phone_or_email = forms.CharField(
        label=_("予約したときの電話番号またはメールアドレス"),
        max_length=254,
        error_messages={"required": _("電話番号かメールアドレスを入力してください。")},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
