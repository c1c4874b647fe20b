"""Notifications (core): texts rendered in the reader's language, with the labels the
domains register for the codes they store."""

from flask_babel import force_locale

from marketplace import notifications
from marketplace.notifications import Notification


def test_a_notification_reads_in_the_readers_language(app):
    changed = Notification(
        kind="line_changed", params={"number": "MO-1", "title": "MES", "status": "accepted"}
    )
    ticket = Notification(kind="ticket_opened", params={"title": "MES", "severity": "critical"})
    with app.test_request_context(), force_locale("en"):
        assert notifications.text(changed) == "Order MO-1, MES: Accepted by the provider."
        assert notifications.text(ticket) == (
            "New support ticket on MES (Critical: production stopped)."
        )
        # an unknown code is shown as stored; an unknown kind by its name; missing params
        # leave the text unfilled rather than fail the page
        odd = Notification(kind="line_changed", params={"number": "1", "title": "t", "status": "x"})
        assert notifications.text(odd) == "Order 1, t: x."
        assert notifications.text(Notification(kind="something_new", params={})) == "something_new"
        assert notifications.text(Notification(kind="order_placed", params={})) == (
            "New order …: …. Accept or reject it."  # a parameter it lacks reads as a blank
        )
    with app.test_request_context(), force_locale("zh"):
        assert "服务商已接单" in notifications.text(changed)
