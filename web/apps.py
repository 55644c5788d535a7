from django.apps import AppConfig


class WebConfig(AppConfig):
    """The pages."""

    name = "web"

    def ready(self) -> None:
        from notifications.queries import unread_of_the_user_sql
        from organizations.authentication import read_with_the_session_user

        # The bell's count on every page, read with the session's user: one statement fewer a page.
        read_with_the_session_user("unread_count", unread_of_the_user_sql())
