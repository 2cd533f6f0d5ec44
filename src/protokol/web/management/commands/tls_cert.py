from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from protokol import tls


class Command(BaseCommand):
    help = (
        "Create a local CA and a server certificate for https://127.0.0.1 under "
        "$PROTOKOL_DATA_DIR/tls, unless usable ones exist, and print their paths."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--host",
            action="append",
            default=[],
            help="another DNS name or IP address for the certificate (repeatable)",
        )

    def handle(self, *args, **options):
        for host in options["host"]:
            try:
                tls.validate_host(host)
            except tls.InvalidHost as error:
                raise CommandError(f"--host: {error}") from error
        hosts = list(tls.DEFAULT_HOSTS)
        hosts += [host for host in options["host"] if host not in hosts]
        files = tls.ensure_certificate(settings.DATA_DIR / "tls", hosts)
        self.stdout.write(f"CA certificate: {files.ca_certificate}")
        self.stdout.write(f"certificate:    {files.certificate}")
        self.stdout.write(f"key:            {files.key}")
