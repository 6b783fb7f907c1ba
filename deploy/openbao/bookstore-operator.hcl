# The operator's (or a rotation job's) policy: writes new versions of the service's secrets.
# Kept apart from the service's policy: the service reads, the operator rotates.
path "kv/data/bookstore" {
  capabilities = ["create", "update", "read"]
}
path "kv/metadata/bookstore" {
  capabilities = ["read", "list"]
}
# Old versions are kept (KV v2) so a bad rotation can be undone.
path "kv/undelete/bookstore" {
  capabilities = ["update"]
}
# Issue AppRole secret ids for the service's role.
path "auth/approle/role/bookstore/secret-id" {
  capabilities = ["update"]
}
# Rotating the token signing key (the service picks a new version up without a restart), and
# retiring old versions (min_available_version) once their tokens have expired.
path "transit/keys/bookstore-tokens/rotate" {
  capabilities = ["update"]
}
path "transit/keys/bookstore-tokens/config" {
  capabilities = ["update"]
}
