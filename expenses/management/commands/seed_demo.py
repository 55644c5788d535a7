"""`manage.py seed_demo`: load the demo organisations (idempotent; refused in production)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from expenses import demo


class Command(BaseCommand):
    help = "Load demo data (Acme and Globex, password 'outlay-demo'). Idempotent; refused in production."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo refuses to run in production mode (OUTLAY_ENV=production)")
        if demo.already_loaded():
            self.stdout.write("demo data already loaded")
            return
        demo.load()
        self.stdout.write(self.style.SUCCESS("demo data loaded"))
