"""`manage.py verify_audit [--organisation ID]`: recompute the hash chains and hold each chain's
last entry against its head (catches entries removed at the tail); exit 1 on a break."""

from django.core.management.base import BaseCommand

from audit.models import AuditChainHead, AuditEntry
from audit.services import verify_chain


class Command(BaseCommand):
    help = ("Verify the audit hash chain of one or every organisation, including that no entry is missing "
            "at its tail (the chain head records the last sequence and hash).")

    def add_arguments(self, parser):
        parser.add_argument("--organisation", "--organization", type=int, dest="organisation")

    def handle(self, *args, organisation=None, **options):
        if organisation is not None:
            orgs = [organisation]
        else:
            orgs = sorted(set(AuditEntry.objects.values_list("organization_id", flat=True).distinct())
                          | set(AuditChainHead.objects.values_list("organization_id", flat=True)))
        broken = 0
        for org in orgs:
            report = verify_chain(org)
            if report.ok:
                self.stdout.write(f"organisation {org}: {report.entries} entries, chain intact")
            else:
                broken += 1
                self.stderr.write(f"organisation {org}: BROKEN at entry #{report.broken_at}: {report.reason}")
        if broken:
            raise SystemExit(1)
