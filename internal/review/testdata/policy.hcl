# The policy the golden reports are reviewed against, as
# `tokenward review --policy testdata/policy.hcl` would read it.
max_ttl              = "90d"
require_owner        = true
forbidden_scopes     = ["admin:*"]
allowed_repositories = ["acme/api", "acme/web"]
allowed_paths        = ["/srv/*/.env", "/etc/app/*"]
