import os

import jwt  # PyJWT with its crypto extra: pip install "PyJWT[crypto]"

ROOM = os.environ["BEEKEEPER_ROOM"]  # the room's base URL, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/live
KEYS = jwt.PyJWKClient(ROOM + "/.well-known/jwks.json")  # fetched once, again for an unknown key


def admitted(bk_token: str, bk_pass: str) -> bool:
    """True when bk_pass is a valid pass the room signed for bk_token."""
    try:
        key = KEYS.get_signing_key_from_jwt(bk_pass)
        claims = jwt.decode(
            bk_pass,
            key,
            algorithms=["EdDSA"],
            issuer=ROOM,
            options={"require": ["iss", "sub", "iat", "exp"]},
        )
    except jwt.PyJWTError:
        return False
    return claims["sub"] == bk_token
