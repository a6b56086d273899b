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

from .contact import NAME_MAX, Contact, contact_clean, sms_opt_in_clean
from .eligibility import Question

YES, NO, UNSURE = "yes", "no", "unsure"


class ProcedureForm(forms.Form):
    procedure = forms.ChoiceField(
        label=_("手続"), widget=forms.RadioSelect, error_messages={"required": _("手続を選んでください。")}
    )

    def __init__(self, *args, procedures: Iterable[Procedure], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["procedure"].choices = [(p.code, p.display_name) for p in procedures]


class QuestionsForm(forms.Form):
    """One yes/no field per question the procedure needs, and nothing else. 「はい」 is always the
    fine answer: a question asked the other way round on the page (`Question.page_key`) is mapped
    back to its API key here; an optional one also offers 「分からない」, which leaves it out."""

    def __init__(self, *args, questions: Iterable[Question], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.questions = list(questions)
        for question in self.questions:
            choices = [(YES, _("はい")), (NO, _("いいえ"))]
            required = _("「はい」か「いいえ」を選んでください。")
            if question.optional:
                choices.append((UNSURE, _("分からない")))
                required = _("「はい」「いいえ」「分からない」のどれかを選んでください。")
            self.fields[question.field_name] = forms.ChoiceField(
                label=question.text,
                choices=choices,
                widget=forms.RadioSelect,
                help_text=question.unsure_note,
                error_messages={"required": required},
            )

    def answers(self) -> dict[str, bool]:
        """The answers under their API keys (「分からない」 leaves an optional one out)."""
        answers: dict[str, bool] = {}
        for question in self.questions:
            value = self.cleaned_data[question.field_name]
            if value != UNSURE:
                answers[question.key] = question.fine if value == YES else not question.fine
        return answers

    @staticmethod
    def initial_from(questions: Iterable[Question], answers: dict[str, bool] | None) -> dict[str, str]:
        """The page's choices for answers given before (None: nothing answered yet)."""
        if answers is None:
            return {}
        initial: dict[str, str] = {}
        for question in questions:
            if question.key in answers:
                initial[question.field_name] = YES if answers[question.key] is question.fine else NO
            elif question.optional:
                initial[question.field_name] = UNSURE
        return initial


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
    "sms_opt_in": _(
        "SMSは携帯電話の番号（070・080・090で始まる11桁）にだけお送りできます。番号を確かめるか、チェックを外してください。"
    ),
}


def name_too_long(count: int) -> str:
    return _("お名前は%(max)d文字までで入力してください（いまは%(count)d文字です）。") % {
        "max": NAME_MAX,
        "count": count,
    }


class ContactForm(forms.Form):
    """Every field is checked at once, so that one visit to the page shows every problem. No
    `maxlength` on the inputs: a browser would cut a long name silently instead of saying so."""

    name = forms.CharField(
        label=_("お名前"),
        error_messages={"required": CONTACT_MESSAGES["name"]},
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    phone = forms.CharField(
        label=_("電話番号"),
        required=False,
        help_text=_("例: 090-1234-5678、0265-22-0110"),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )
    email = forms.CharField(
        label=_("メールアドレス"),
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    # Shown where SMS is on (bookings/sms.py); the rule is `contact.sms_opt_in_clean`'s.
    sms_opt_in = forms.BooleanField(
        label=_("SMSで通知を受け取る"),
        required=False,
        help_text=_(
            "携帯電話の番号に、予約の確認・前日のお知らせ・会場の都合による取消をSMSでお送りします。"
        ),
    )

    def clean(self) -> dict:
        data = super().clean()
        name, phone, email = (data.get(key, "") or "" for key in ("name", "phone", "email"))
        try:
            self.contact = contact_clean(name=name, phone=phone, email=email)
            sms_opt_in_clean(contact=self.contact, sms_opt_in=bool(data.get("sms_opt_in")))
        except InvalidInput as error:
            for field in error.fields:
                if field in self.errors:
                    continue  # the field's own message (e.g. "enter a name") says it already
                if field == "email" and not phone.strip() and not email.strip():
                    self.add_error(None, CONTACT_MESSAGES["reach"])
                elif field == "name" and len(name.strip()) > NAME_MAX:
                    self.add_error("name", name_too_long(len(name.strip())))
                elif field in CONTACT_MESSAGES:
                    self.add_error(field, CONTACT_MESSAGES[field])
        return data

    def error_list(self) -> list[tuple[str, str]]:
        """(id of the input to go to, message) for the summary at the top of the page, in page order;
        "fill in one of the two" points at the phone field."""
        found = [(self["phone"].auto_id, str(message)) for message in self.non_field_errors()]
        names = ("name", "phone", "sms_opt_in", "email")
        for name in names:
            found += [(self[name].auto_id, str(message)) for message in self[name].errors]
        order = {self[name].auto_id: index for index, name in enumerate(names)}
        return sorted(found, key=lambda item: order[item[0]])

    def contact_data(self) -> dict[str, str | bool]:
        """What the session keeps until the booking is made (as typed, to show it again)."""
        return {key: self.cleaned_data[key] for key in ("name", "phone", "email", "sms_opt_in")}


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
