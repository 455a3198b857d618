"""Delivering outbox e-mails (committed with the change that caused them; sent from the stream)."""

from __future__ import annotations

from chalicelib.services.ports import EmailGateway, Outbox, OutboxMessage


def deliver(outbox: Outbox, email: EmailGateway, message: OutboxMessage) -> bool:
    """Send once per message as far as the store can tell (at-least-once: a crash between sending and
    marking sends again on redelivery). Returns whether a mail was sent."""
    if outbox.already_sent(message.message_id):
        return False
    email.send(message.to, message.subject, message.text, message.attachments)
    outbox.mark_sent(message)
    return True
