from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access"

    def ready(self) -> None:
        # django-axes announces a lock-out only through its signal; this is the one receiver, and
        # it does nothing but call the command (core/lockout.py says why axes does the counting).
        from axes.signals import user_locked_out

        from .services import account_lockout_record

        user_locked_out.connect(account_lockout_record, dispatch_uid="access.account_lockout_record")
