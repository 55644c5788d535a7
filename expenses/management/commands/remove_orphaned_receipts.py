"""Remove stored receipt files that no expense references (left by a rolled-back upload, a
deleted expense, or a replacement made before files were removed after commit)."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand

from expenses.receipts import orphaned_receipt_files, receipt_storage


class Command(BaseCommand):
    help = "Find receipt files no expense references and remove them (--dry-run only lists them)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list the orphans, remove nothing")
        parser.add_argument("--min-age-minutes", type=int, default=60,
                            help="leave files younger than this (an upload whose transaction is still open)")

    def handle(self, *args, dry_run: bool, min_age_minutes: int, **options):
        orphans = orphaned_receipt_files(older_than=dt.timedelta(minutes=min_age_minutes))
        _, storage = receipt_storage()
        for name in orphans:
            self.stdout.write(("would remove " if dry_run else "removed ") + name)
            if not dry_run:
                storage.delete(name)
        self.stdout.write(f"{len(orphans)} orphaned receipt file(s){' found' if dry_run else ' removed'}.")
