import { createRemoteJWKSet, jwtVerify } from "jose"; // npm install jose

const ROOM = process.env.BEEKEEPER_ROOM; // the room's base URL
const KEYS = createRemoteJWKSet(new URL(ROOM + "/.well-known/jwks.json"));

// True when bkPass is a valid pass the room signed for bkToken.
export async function admitted(bkToken, bkPass) {
  try {
    const { payload } = await jwtVerify(bkPass, KEYS, {
      issuer: ROOM,
      algorithms: ["EdDSA"],
      requiredClaims: ["iss", "sub", "iat", "exp"],
    });
    return payload.sub === bkToken;
  } catch {
    return false;
  }
}
