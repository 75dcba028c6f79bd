"""The fly-agents application: fleet service, pairing flow, alerts and the Telegram layer."""
