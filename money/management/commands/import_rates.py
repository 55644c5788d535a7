"""python manage.py import_rates FILE [FILE ...]: load ECB reference rates (eurofxref-hist.csv or
.zip, the daily or 90-day XML). Each file is checked whole first; a malformed one writes nothing."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from money.errors import RatesFileInvalid
from money.services import rates_import_file


class Command(BaseCommand):
    help = "Import ECB reference exchange rates (eurofxref-hist CSV/ZIP or the daily XML). Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)

    def handle(self, *args, files, **options):
        for path in files:
            try:
                result = rates_import_file(data=path.read_bytes(), name=path.name)
            except OSError as exc:
                raise CommandError(f"{path}: {exc.strerror}") from None
            except RatesFileInvalid as exc:
                raise CommandError(f"{path}: {exc.message} Nothing was imported from it.") from None
            self.stdout.write(f"{path.name}: {result.rates} rates for {result.days} day(s), "
                              f"{result.first_day} to {result.last_day}")
