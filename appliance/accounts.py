"""Login accounts: roles, password rules and hashing (werkzeug's salted scrypt/pbkdf2 hashes)."""

from __future__ import annotations

from werkzeug.security import check_password_hash, generate_password_hash

from appliance.store import Store

ROLES = ("owner", "supervisor", "agent")
MIN_PASSWORD_LENGTH = 8


class AccountError(ValueError):
    """A user-facing problem with an account request; the message says what to do."""


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if password.strip() == "" or len(set(password)) < 3:
        raise AccountError("The password is too simple; use a mix of letters, digits or words.")


def set_password(store: Store, username: str, password: str, role: str = "owner") -> None:
    username = username.strip()
    if not username:
        raise AccountError("The user name may not be empty.")
    if role not in ROLES:
        raise AccountError(f"Unknown role {role!r}; choose one of: {', '.join(ROLES)}.")
    validate_password(password)
    store.save_user(username, generate_password_hash(password), role)


def check_login(store: Store, username: str, password: str) -> dict | None:
    """The user row when the password matches, else None (same answer for unknown users)."""
    user = store.user(username.strip())
    if user is None:
        # Spend the same effort as a real check so timing does not reveal valid names.
        check_password_hash(generate_password_hash("x" * 12), password)
        return None
    if not check_password_hash(user["password_hash"], password):
        return None
    return user


def has_owner(store: Store) -> bool:
    return any(u["role"] == "owner" for u in store.users())
