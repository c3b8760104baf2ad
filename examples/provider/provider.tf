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
