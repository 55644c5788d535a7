"""Ending a user's live websockets when their session ends.

Every live socket (web/consumers.py) joins the group of its session and of its user. Logging out
ends the session's sockets; a password change or a deactivation ends all of the user's. The
message goes out after commit (nothing is ended for a change that rolled back); a socket that
misses it (Redis pub/sub is lossy) still re-checks its session on every subscribe."""

from __future__ import annotations

import hashlib

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from core.after_commit import send_on_commit

END = {"type": "session.end"}


def session_group(session_key: str) -> str:
    # A digest: group names are short and limited to a few characters; and the key is a secret.
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def user_sessions_group(user_id: int) -> str:
    return f"sessions.user.{user_id}"


def _end_group_rollback_unsafe(group: str) -> None:
    async_to_sync(get_channel_layer().group_send)(group, END)


def _send_after_commit(group: str) -> None:
    # Redis down: logged by send_on_commit; the subscribe re-check still refuses the socket.
    send_on_commit(_end_group_rollback_unsafe, group)


def end_session_sockets(session_key: str | None) -> None:
    """Close the live sockets opened with this session (after commit)."""
    if session_key:
        _send_after_commit(session_group(session_key))


def end_user_sockets(user_id: int) -> None:
    """Close every live socket of the user, whatever session opened it (after commit)."""
    _send_after_commit(user_sessions_group(user_id))
