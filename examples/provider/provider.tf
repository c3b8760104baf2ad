terraform {
  required_providers {
    tokenward = {
      source = "tokenward/tokenward"
    }
  }
}

# The store is a SQLite file by default, or PostgreSQL when a team shares it.
# The master key is never written here: export TOKENWARD_MASTER_KEY (base64 of
# 32 random bytes, such as `openssl rand -base64 32`) or point
# TOKENWARD_MASTER_KEY_FILE at a file holding it.
provider "tokenward" {
  store = "tokenward.db" # or "postgres://tokenward@db.internal/tokenward", or TOKENWARD_STORE

  # Needed only for tokens with GitHub destinations. Leave token out and
  # export GITHUB_TOKEN instead, or use a GitHub App:
  #   app_id = 123456, installation_id = 7890123, private_key_file = "github-app.pem"
  github = {
    api_url = "https://api.github.com" # or GITHUB_API_URL; for GitHub Enterprise Server, https://HOST/api/v3
  }

  # Needed only for tokens with vault_secrets. The Vault token is never
  # written here: export TOKENWARD_VAULT_TOKEN (or VAULT_TOKEN), or an
  # AppRole's TOKENWARD_VAULT_ROLE_ID and TOKENWARD_VAULT_SECRET_ID.
  vault = {
    address = "https://vault.acme.internal:8200" # or TOKENWARD_VAULT_ADDR, then VAULT_ADDR
    mount   = "kv"                               # the KV v2 mount; "secret" by default
  }

  # Needed only to change the defaults of aws_secrets: credentials come from
  # the AWS SDK's chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, a role), never here.
  aws = {
    region               = "eu-west-1" # or AWS_REGION
    recovery_window_days = 7           # how long a deleted secret can be restored; 30 by default
  }

  # Organisation limits, checked at plan time on every tokenward_token.
  policy = {
    max_ttl              = "90d"
    min_overlap          = "1h"
    require_owner        = true
    forbidden_scopes     = ["admin:*", "billing:delete"]
    allowed_repositories = ["acme/*"]
    # Files tokens may be written to, checked resolved and cleaned; review
    # flags host-takeover paths (authorized_keys, /root/, /etc/sudoers, ...)
    # whatever this allows.
    allowed_paths = ["/etc/acme/*", "/srv/acme/**"]
  }
}
