"""Users and their tokens: the tables, the public shape, the bodies and answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, field_validator
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from hostd.store import validation
from hostd.store.models.common import _Body, new_id, utcnow


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=new_id, primary_key=True)
    email: str = Field(unique=True, index=True, max_length=254)
    name: str = Field(max_length=100)
    handle: str = Field(unique=True, index=True, max_length=40)
    password_hash: str
    created_at: datetime = Field(default_factory=utcnow)
    # Revoking all of a user's tokens at once (hostd.store.auth): tokens of an older
    # generation are refused, but the one whose jti is kept.
    token_generation: int = Field(default=0)
    kept_jti: str | None = Field(default=None, max_length=64)


class UserPublic(BaseModel):
    id: str
    email: str
    name: str
    handle: str

    @classmethod
    def of(cls, user: User) -> UserPublic:
        return cls(id=user.id, email=user.email, name=user.name, handle=user.handle)


class RevokedToken(SQLModel, table=True):
    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(index=True)



class RegisterBody(_Body):
    email: str
    password: str
    name: str

    _email = field_validator("email")(validation.normalize_email)
    _password = field_validator("password")(validation.check_password)
    _name = field_validator("name")(validation.normalize_person_name)


class LoginBody(_Body):
    email: str
    password: str = PydanticField(max_length=1024)

    _email = field_validator("email")(validation.normalize_email)


class PasswordChange(_Body):
    """`{current_password, new_password}`; the new one is checked as at registration."""

    current_password: str = PydanticField(max_length=1024)
    new_password: str

    _new_password = field_validator("new_password")(validation.check_password)


class AuthResponse(BaseModel):
    user: UserPublic
    token: str


class UserResponse(BaseModel):
    user: UserPublic

