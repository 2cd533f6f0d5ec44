"""Demo departments, services and accounts; created only in demo mode."""

import structlog
from django.conf import settings
from django.db import transaction

from protokol.accounts.models import Role, User
from protokol.accounts.services import create_user, ensure_department
from protokol.catalog.services import ensure_service
from protokol.workflow.answer_templates import seed_demo_templates

log = structlog.get_logger(__name__)

DEMO_PASSWORD = "demo"

DEPARTMENTS = [
    ("A", "Отдел консультаций по социальным вопросам", "Social affairs desk"),
    ("B", "Отдел консультаций по документам", "Documents desk"),
]

PHONE = {"name": "phone", "type": "phone", "required": False}
EMAIL = {"name": "email", "type": "email", "required": False}

SERVICES = [
    # code, name, name_en, department, data fields, deadline days
    ("GEN", "Общая консультация", "General consultation", "A", [], 30),
    (
        "SOC",
        "Меры социальной поддержки",
        "Social support",
        "A",
        [
            {"name": "snils", "type": "snils", "required": True},
            PHONE,
            EMAIL,
            {
                "name": "income_statement",
                "type": "file",
                "label": "Справка о доходах",
                "label_en": "Income statement",
                "help": "За последние три месяца.",
                "help_en": "For the last three months.",
            },
        ],
        30,
    ),
    (
        "PAS",
        "Оформление паспорта",
        "Passport",
        "B",
        [
            {"name": "passport", "type": "passport", "required": True},
            {
                "name": "birth_date",
                "type": "date",
                "label": "Дата рождения",
                "label_en": "Date of birth",
            },
            {
                "name": "reason",
                "type": "choice",
                "label": "Причина замены",
                "label_en": "Reason for replacement",
                "choices": [
                    {"value": "age", "label": "Достижение возраста", "label_en": "Age"},
                    {"value": "loss", "label": "Утрата", "label_en": "Loss"},
                    {"value": "name", "label": "Смена фамилии", "label_en": "New name"},
                ],
            },
            {
                "name": "photo",
                "type": "file",
                "label": "Фотография",
                "label_en": "Photo",
            },
        ],
        15,
    ),
    (
        "INN",
        "Идентификационный номер налогоплательщика",
        "Taxpayer id",
        "B",
        [
            {"name": "inn", "type": "inn", "required": True},
            {
                "name": "ogrn",
                "type": "ogrn",
                "label": "ОГРНИП",
                "label_en": "OGRNIP",
                "help": "Только для индивидуальных предпринимателей.",
                "help_en": "Sole traders only.",
            },
            PHONE,
        ],
        15,
    ),
]

ACCOUNTS = [
    # username, role, first name, last name, departments, all departments
    ("citizen", Role.CITIZEN, "Анна", "Иванова", [], False),
    ("citizen2", Role.CITIZEN, "Борис", "Петров", [], False),
    ("operator", Role.OPERATOR, "Ольга", "Смирнова", ["A"], False),
    ("reviewer", Role.REVIEWER, "Роман", "Кузнецов", ["A"], False),
    ("operator2", Role.OPERATOR, "Олег", "Попов", ["B"], False),
    ("supervisor", Role.SUPERVISOR, "Светлана", "Соколова", [], True),
    ("auditor", Role.AUDITOR, "Алексей", "Морозов", [], True),
    ("admin", Role.ADMIN, "Мария", "Волкова", [], True),
]


def seed_demo() -> int:
    """Create whatever demo data is missing; return the number of accounts created."""

    if not settings.DEMO:
        raise RuntimeError("Demo accounts are created only with PROTOKOL_DEMO=1.")

    created = 0
    with transaction.atomic():
        departments = {
            code: ensure_department(code, name, name_en=name_en)
            for code, name, name_en in DEPARTMENTS
        }
        for code, name, name_en, department, fields, days in SERVICES:
            ensure_service(
                code,
                name=name,
                name_en=name_en,
                department=departments[department],
                data_fields=fields,
                deadline_days=days,
            )
        for username, role, first, last, codes, everywhere in ACCOUNTS:
            if User.objects.filter(username=username).exists():
                continue
            create_user(
                username,
                role=role,
                password=DEMO_PASSWORD,
                first_name=first,
                last_name=last,
                departments=[departments[c] for c in codes],
                all_departments=everywhere,
            )
            created += 1
        seed_demo_templates(User.objects.get(username="admin"))
    log.info("demo_seeded", accounts_created=created)
    return created
