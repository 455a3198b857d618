"""What the platform tells people: message templates per language, and calendar invitations."""
