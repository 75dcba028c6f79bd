"""Async client for the Fly Machines REST API and Fly's logs API.

Never imports `bot` or `storage`. Never logs, reprs or raises with the API token.
"""
