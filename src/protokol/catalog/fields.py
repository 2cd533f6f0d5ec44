"""The data fields a service collects: their types, labels and choices.

A service stores its fields as a JSON list in `Service.data_fields`, one
object per field:

    {"name": "snils", "type": "snils", "label": "СНИЛС", "label_en": "SNILS",
     "required": true, "help": "", "help_en": "", "choices": []}

Only `name` and `type` are needed; a field without a label shows its type's.
A choice field lists `choices` as {"value", "label", "label_en"} objects.
Values of every type but `file` are collected as encrypted data; a `file`
field is a document that a data request puts on the checklist.
"""

import re
from dataclasses import dataclass, field

from django.utils.translation import get_language, gettext, gettext_lazy

from protokol.errors import ValidationFailed
from protokol.personal.validators import KINDS

FIELD_TYPES = {
    "passport": gettext_lazy("Паспорт РФ: серия и номер"),
    "inn": gettext_lazy("ИНН"),
    "snils": gettext_lazy("СНИЛС"),
    "ogrn": gettext_lazy("ОГРН или ОГРНИП"),
    "phone": gettext_lazy("Телефон"),
    "email": gettext_lazy("Электронная почта"),
    "date": gettext_lazy("Дата"),
    "choice": gettext_lazy("Выбор из списка"),
    "text": gettext_lazy("Текст"),
    "file": gettext_lazy("Файл"),
}
FILE = "file"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_LABEL_CHARS = 300
MAX_HELP_CHARS = 1000
MAX_FIELDS = 50


@dataclass(frozen=True)
class Choice:
    """One allowed value of a choice field and its labels."""

    value: str
    label: str
    label_en: str = ""


@dataclass(frozen=True)
class FieldDefinition:
    """One data field of a service."""

    name: str
    type: str
    label: str
    label_en: str = ""
    required: bool = False
    help: str = ""
    help_en: str = ""
    choices: tuple[Choice, ...] = field(default_factory=tuple)

    @property
    def is_file(self) -> bool:
        return self.type == FILE

    @property
    def choice_values(self) -> tuple[str, ...]:
        return tuple(choice.value for choice in self.choices)

    def localized_label(self) -> str:
        """Return the English label on English pages when there is one.

        A field without a label of its own shows its type's translated label.
        """
        if get_language() == "en" and self.label_en:
            return self.label_en
        return self.label or _type_label(self.type, self.name)

    def localized_help(self) -> str:
        if get_language() == "en" and self.help_en:
            return self.help_en
        return self.help

    def localized_choices(self) -> list[tuple[str, str]]:
        english = get_language() == "en"
        return [
            (c.value, c.label_en if english and c.label_en else c.label)
            for c in self.choices
        ]

    def as_dict(self) -> dict:
        """Return the stored JSON form of the field."""
        return {
            "name": self.name,
            "type": self.type,
            "label": self.label,
            "label_en": self.label_en,
            "required": self.required,
            "help": self.help,
            "help_en": self.help_en,
            "choices": [
                {"value": c.value, "label": c.label, "label_en": c.label_en}
                for c in self.choices
            ],
        }


def definitions_from_names(names) -> list[dict]:
    """Return required field definitions for bare field names.

    A name of a known type (passport, inn, snils, phone…) gets that type and
    its label. Any other name becomes a text field labelled by the name.
    """
    return [
        {
            "name": name,
            "type": name if name in FIELD_TYPES and name != FILE else "text",
            "required": True,
        }
        for name in names
    ]


def _type_label(kind: str, name: str) -> str:
    # A legacy name such as postal_address keeps the label of its kind, and
    # a text field's own name says more than the label "Текст".
    if name in KINDS:
        return str(KINDS[name].label)
    if kind == "text":
        return name
    return str(FIELD_TYPES.get(kind, name))


def _text_of(raw: dict, key: str, where: str, limit: int, errors: list) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        errors.append(
            {
                "field": f"{where}.{key}",
                "message": gettext("%(field)s must be text of at most %(max)d chars.")
                % {"field": f"{where}.{key}", "max": limit},
            }
        )
        return ""
    return value.strip()


def _choices_of(raw: dict, where: str, errors: list) -> tuple[Choice, ...]:
    items = raw.get("choices") or []
    problem = None
    if raw.get("type") == "choice" and not items:
        problem = gettext("%(field)s: a choice field needs at least one choice.")
    elif not isinstance(items, list) or not all(
        isinstance(item, dict) and isinstance(item.get("value"), str) and item["value"]
        for item in items
    ):
        problem = gettext(
            "%(field)s must be a list of objects with a non-empty 'value' and "
            "optional 'label' and 'label_en'."
        )
    elif len({item["value"] for item in items}) != len(items):
        problem = gettext("%(field)s: each choice value may appear only once.")
    if problem:
        errors.append(
            {"field": f"{where}.choices", "message": problem % {"field": where}}
        )
        return ()
    return tuple(
        Choice(
            value=item["value"],
            label=str(item.get("label") or item["value"]),
            label_en=str(item.get("label_en") or ""),
        )
        for item in items
    )


def parse_definitions(raw_fields) -> list[FieldDefinition]:
    """Return the field definitions of a stored or submitted JSON list.

    Raises one ValidationFailed naming the first invalid entry, with every
    problem in `errors` as `data_fields[INDEX].KEY`.
    """
    if not isinstance(raw_fields, list) or len(raw_fields) > MAX_FIELDS:
        raise ValidationFailed(
            gettext("data_fields must be a list of at most %(max)d field objects.")
            % {"max": MAX_FIELDS},
            field="data_fields",
        )
    definitions, errors, seen = [], [], set()
    for index, raw in enumerate(raw_fields):
        where = f"data_fields[{index}]"
        if not isinstance(raw, dict):
            errors.append(
                {"field": where, "message": gettext("Each field must be an object.")}
            )
            continue
        name, kind = raw.get("name"), raw.get("type")
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            errors.append(
                {
                    "field": f"{where}.name",
                    "message": gettext(
                        "%(field)s must be lower-case letters, digits and _, "
                        "starting with a letter."
                    )
                    % {"field": f"{where}.name"},
                }
            )
            continue
        if name in seen:
            errors.append(
                {
                    "field": f"{where}.name",
                    "message": gettext("Field name '%(name)s' appears twice.")
                    % {"name": name},
                }
            )
            continue
        seen.add(name)
        if kind not in FIELD_TYPES:
            errors.append(
                {
                    "field": f"{where}.type",
                    "message": gettext("%(field)s must be one of %(types)s.")
                    % {"field": f"{where}.type", "types": ", ".join(FIELD_TYPES)},
                }
            )
            continue
        label = _text_of(raw, "label", where, MAX_LABEL_CHARS, errors)
        definitions.append(
            FieldDefinition(
                name=name,
                type=kind,
                label=label,
                label_en=_text_of(raw, "label_en", where, MAX_LABEL_CHARS, errors),
                required=bool(raw.get("required", False)),
                help=_text_of(raw, "help", where, MAX_HELP_CHARS, errors),
                help_en=_text_of(raw, "help_en", where, MAX_HELP_CHARS, errors),
                choices=_choices_of(raw, where, errors),
            )
        )
    if errors:
        raise ValidationFailed(
            errors[0]["message"], field=errors[0]["field"], errors=errors
        )
    return definitions


def value_kinds(definitions) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Return each value field's type and choices, as personal.validators expects."""
    return {d.name: (d.type, d.choice_values) for d in definitions if not d.is_file}
