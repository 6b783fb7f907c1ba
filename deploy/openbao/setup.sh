#!/bin/sh
# Sets up an OpenBao (or Vault) for the bookstore: a KV v2 engine at kv/, a transit engine at
# transit/ with an ed25519 key bookstore-tokens (for BOOKSTORE_SIGNING), the two policies
# of this directory, and an AppRole "bookstore" for the service. Run with VAULT_ADDR and an
# admin VAULT_TOKEN in the environment; `bao` or `vault` on the PATH (BAO=vault to choose).
set -eu
BAO=${BAO:-bao}
here=$(dirname "$0")
"$BAO" secrets list -format=json | grep -q '"kv/"' || "$BAO" secrets enable -path=kv kv-v2
# The transit key that may sign access tokens (BOOKSTORE_SIGNING=vault-transit:transit/bookstore-tokens).
"$BAO" secrets list -format=json | grep -q '"transit/"' || "$BAO" secrets enable transit
"$BAO" read transit/keys/bookstore-tokens >/dev/null 2>&1 ||
  "$BAO" write -f transit/keys/bookstore-tokens type=ed25519
"$BAO" policy write bookstore-service "$here/bookstore-service.hcl"
"$BAO" policy write bookstore-operator "$here/bookstore-operator.hcl"
"$BAO" auth list -format=json | grep -q '"approle/"' || "$BAO" auth enable approle
"$BAO" write auth/approle/role/bookstore token_policies=bookstore-service \
  token_ttl=1h token_max_ttl=24h secret_id_ttl=0
