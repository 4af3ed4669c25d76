# Redeem the visitor's admission, once: the first answer is
# {"allow":true,"admittedAt":...,"expiresAt":...}, any later one
# {"allow":false,"reason":"used"}, an unknown or expired token {"allow":false}.
curl -s -X POST "$BEEKEEPER_ROOM/client-check/$BK_TOKEN"
