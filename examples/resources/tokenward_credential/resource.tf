# The billing database's password, rotated every 23 days on two alternating
# login roles. The admin DSN is read from BILLING_DB_ADMIN_DSN by the provider
# and by `tokenward rotate`; it is never in the configuration or the state.
resource "tokenward_credential" "billing_db" {
  name          = "billing-db"
  owner         = "team-billing"
  ttl           = "30d"
  rotate_before = "7d"
  overlap       = "1d"
  issuer = {
    postgres = {
      admin_dsn_env = "BILLING_DB_ADMIN_DSN"     # postgres://admin:…@host:5432/billing
      users         = ["billing_a", "billing_b"] # the two login roles it alternates
      member_of     = "billing_app"              # the NOLOGIN role that holds the privileges
    }
  }
  files = [{ path = "/srv/billing/db.env", key = "DATABASE_URL", field = "dsn" }]
  github_secrets = [{ repository = "acme/billing", name = "DB_PASSWORD", field = "password" },
  { repository = "acme/billing", name = "DB_USER", field = "username" }]
  # Secret managers, with the provider's vault block (or VAULT_ADDR) and the
  # AWS SDK's usual credentials: each entry receives one field too.
  vault_secrets = [{ path = "apps/billing", key = "DATABASE_URL", field = "dsn" }]
  aws_secrets   = [{ name = "billing/db-password" }] # field defaults to password
}

# A Redis ACL user's password: one user holding two passwords through the
# overlap. The user and its ACL rules are the operator's.
resource "tokenward_credential" "cache" {
  name = "cache"
  issuer = {
    redis = { admin_url_env = "CACHE_ADMIN_URL", user = "cache_app" }
  }
  files = [{ path = "/srv/app/cache.env", key = "REDIS_URL", field = "url" }]
}
