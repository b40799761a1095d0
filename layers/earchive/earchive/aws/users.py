"""The console's users in a Cognito user pool (the template's ConsoleUserPool, or moto's locally): roles are groups.

Scopes are the ``custom:scopes`` attribute (space-separated ``hall:<行政区划>:<全宗号>`` / ``institution:<code>``),
which only an administrator writes (the pool client may not). With any other OIDC issuer, users and
their claims live in that provider and this module is not used.
"""

from __future__ import annotations

from typing import Any


class Users:
    def __init__(self, client: Any, pool_id: str):
        self.client, self.pool_id = client, pool_id

    def add(self, name: str, role: str, scopes: list[str], *, password: str | None = None, display_name: str = "",
            temporary_password: str | None = None) -> dict[str, Any]:
        """Create (or update) ``name`` with one role and its scopes.

        ``password`` is set permanent (the local cloud); ``temporary_password`` must be changed at the first sign-in (AWS).
        """
        attributes = [{"Name": "custom:scopes", "Value": " ".join(scopes)}, *([{"Name": "name", "Value": display_name}] if display_name else [])]
        try:
            kwargs: dict[str, Any] = {"UserPoolId": self.pool_id, "Username": name, "UserAttributes": attributes, "MessageAction": "SUPPRESS"}
            if temporary_password:
                kwargs["TemporaryPassword"] = temporary_password
            self.client.admin_create_user(**kwargs)
        except self.client.exceptions.UsernameExistsException:
            self.client.admin_update_user_attributes(UserPoolId=self.pool_id, Username=name, UserAttributes=attributes)
        if password:
            self.client.admin_set_user_password(UserPoolId=self.pool_id, Username=name, Password=password, Permanent=True)
        for group in self.groups(name):
            if group != role:
                self.client.admin_remove_user_from_group(UserPoolId=self.pool_id, Username=name, GroupName=group)
        self.client.admin_add_user_to_group(UserPoolId=self.pool_id, Username=name, GroupName=role)
        return self.get(name)

    def groups(self, name: str) -> list[str]:
        return [g["GroupName"] for g in self.client.admin_list_groups_for_user(UserPoolId=self.pool_id, Username=name).get("Groups", [])]

    def get(self, name: str) -> dict[str, Any]:
        user = self.client.admin_get_user(UserPoolId=self.pool_id, Username=name)
        attrs = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
        return {"name": name, "sub": attrs.get("sub"), "roles": self.groups(name), "scopes": attrs.get("custom:scopes", "").split(),
                "enabled": user.get("Enabled", True), "status": user.get("UserStatus")}

    def all(self) -> list[dict[str, Any]]:
        out = []
        for page in self.client.get_paginator("list_users").paginate(UserPoolId=self.pool_id):
            out += [self.get(u["Username"]) for u in page.get("Users", [])]
        return out

    def disable(self, name: str) -> None:
        self.client.admin_disable_user(UserPoolId=self.pool_id, Username=name)

    def sign_in(self, client_id: str, name: str, password: str) -> dict[str, Any]:
        """USER_PASSWORD_AUTH (the local gateway's form): the tokens, or the pool's refusal as raised."""
        return self.begin_sign_in(client_id, name, password)["AuthenticationResult"]

    def begin_sign_in(self, client_id: str, name: str, password: str) -> dict[str, Any]:
        """The pool's whole answer: tokens, or a challenge (a user with a temporary password must choose one)."""
        return self.client.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                         AuthParameters={"USERNAME": name, "PASSWORD": password})

    def choose_password(self, client_id: str, name: str, session: str, password: str) -> dict[str, Any]:
        """Answer NEW_PASSWORD_REQUIRED: the user's own password replaces the temporary one; the tokens."""
        return self.client.respond_to_auth_challenge(ClientId=client_id, ChallengeName="NEW_PASSWORD_REQUIRED", Session=session,
                                                     ChallengeResponses={"USERNAME": name, "NEW_PASSWORD": password})["AuthenticationResult"]


__all__ = ["Users"]
