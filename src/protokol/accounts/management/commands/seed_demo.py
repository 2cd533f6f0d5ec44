from django.core.management.base import BaseCommand, CommandError

from protokol.accounts.demo import seed_demo


class Command(BaseCommand):
    help = "Create the demo departments, services and accounts (PROTOKOL_DEMO=1 only)."

    def handle(self, *args, **options):
        try:
            created = seed_demo()
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Demo accounts created: {created} (password: demo)")
