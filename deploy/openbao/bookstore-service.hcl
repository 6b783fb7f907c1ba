# The service's policy: it reads its own secrets and the versions of them, and nothing else.
# It cannot write, delete or list: a leaked service token reads what the service already had.
path "kv/data/bookstore" {
  capabilities = ["read"]
}
# The version of the entry, polled to notice a rotation without reading the values.
path "kv/metadata/bookstore" {
  capabilities = ["read"]
}
# Keeping its own token alive (the built-in "default" policy grants these too).
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
# Signing access tokens with the transit key (BOOKSTORE_SIGNING=vault-transit:transit/bookstore-tokens):
# signatures, and the versions' public keys for the JWKS. The private key is not exportable:
# no policy can read it.
path "transit/sign/bookstore-tokens" {
  capabilities = ["update"]
}
path "transit/keys/bookstore-tokens" {
  capabilities = ["read"]
}
