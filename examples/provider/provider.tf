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
}
