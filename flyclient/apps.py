"""Fly apps: read the client's app, create a new one.

Creating an app is not idempotent. It is resent only when the request certainly was not
executed; after an ambiguous failure (5xx, timeout, lost connection) the app is looked up by
name and returned if it exists.

This module must never delete apps.
"""

from __future__ import annotations

from flyclient._base import ClientBase, json_of, parse_model
from flyclient._http import ApiCall
from flyclient.actions import Action
from flyclient.errors import FlyError, NotFoundError
from flyclient.models import App


class AppsMixin(ClientBase):
    async def get_app(self, app_name: str | None = None) -> App:
        """The app (this client's by default); `NotFoundError` if there is none by that name."""
        name = app_name or self._app
        call = ApiCall(Action.APP_GET, name, "GET", self._api_url("apps", name))
        return await self._send_model(call, App)

    async def create_app(self, app_name: str, org_slug: str, *, network: str | None = None) -> App:
        """Create `app_name` in organisation `org_slug` and return it.

        Fly's spec promises 201 without a body while the real API answers with the App; an
        empty answer is followed by a read of the new app.
        """
        body: dict[str, str] = {"app_name": app_name, "org_slug": org_slug}
        if network is not None:
            body["network"] = network
        call = ApiCall(Action.APP_CREATE, app_name, "POST", self._api_url("apps"), json_body=body)
        try:
            response = await self._send(call)
        except FlyError as error:
            if not error.maybe_applied:
                raise
            return await self._app_created_despite(error, app_name)
        payload = json_of(response, call)
        if isinstance(payload, dict) and payload.get("name"):
            return parse_model(App, payload, response, call)
        return await self.get_app(app_name)

    async def _app_created_despite(self, failure: FlyError, app_name: str) -> App:
        try:
            return await self.get_app(app_name)
        except NotFoundError:
            raise failure from None
