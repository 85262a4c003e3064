"""Media links: object-storage signing and the preflight against WhatsApp's media rules."""
