"""Fill a migrated installation with signed consultations through the real services.

Run as `python populate.py COUNT` with the installation's PROTOKOL_* variables;
the backup tests start it in a subprocess, because their installations are
not the suite's test database.
"""

import os
import sys

import django


def main(count: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "protokol.settings")
    django.setup()

    from django.core.management import call_command

    from consultations.factories import consultation_in, upload
    from protokol.accounts.demo import seed_demo
    from protokol.accounts.models import User
    from protokol.consultations import services
    from protokol.consultations.attachments import add_attachment
    from protokol.consultations.models import Status

    seed_demo()
    call_command("pki", "init", verbosity=0)
    call_command("pki", "issue", "reviewer", verbosity=0)
    users = {user.username: user for user in User.objects.all()}

    for number in range(count):
        consultation = consultation_in(users, Status.DRAFTING)
        services.add_message(
            users["operator"],
            consultation.pk,
            text=f"Уточните дату обращения {number}",
            visibility="public",
        )
        add_attachment(
            users["citizen"],
            consultation.pk,
            upload(name=f"справка-{number}.pdf", content=b"%PDF-1.4 " + os.urandom(64)),
        )
        for username, action in (
            ("operator", "submit"),
            ("reviewer", "approve"),
            ("reviewer", "sign"),
        ):
            services.transition(users[username], consultation.pk, action=action)

    # One consultation still open, so the backup also holds unsigned work.
    consultation_in(users, Status.DRAFTING)


if __name__ == "__main__":
    main(int(sys.argv[1]))
