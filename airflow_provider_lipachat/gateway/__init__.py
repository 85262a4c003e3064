"""Talking to the LipaChat gateway: messages, answers, the HTTP clients, the message list. No Airflow here."""
