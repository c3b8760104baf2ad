resource "tokenward_scope" "deployments_write" {
  name = "deployments:write"
}

resource "tokenward_scope" "billing_read" {
  name = "billing:read"
}

resource "tokenward_scope" "packages_read" {
  name = "packages:read"
}

resource "tokenward_role" "reader" {
  name   = "reader"
  scopes = [tokenward_scope.billing_read.name]
}

# A token for the deploy workflow of acme/api: its value is delivered to a
# repository secret, an environment secret and a local .env file, and rotated
# by the scheduled tokenward workflow 14 days before it expires. Referring to
# the scopes and the role makes Terraform create them before the token.
resource "tokenward_token" "ci_deploy" {
  name        = "ci-deploy"
  owner       = "platform"
  description = "Deploys acme/api from GitHub Actions"
  scopes      = [tokenward_scope.deployments_write.name, tokenward_scope.billing_read.name]
  roles       = [tokenward_role.reader.name]

  ttl           = "90d" # the default
  rotate_before = "14d" # the default
  overlap       = "1d"  # the default; 24h is the same value

  # Change a value here to rotate on the next apply, after a suspected leak.
  rotation_triggers = {
    incident = "2026-03-01"
  }

  github_secrets = [
    { repository = "acme/api", name = "DEPLOY_TOKEN" },
    { repository = "acme/api", name = "DEPLOY_TOKEN", environment = "production" },
  ]

  files = [
    # Writes CI_DEPLOY=<value>, keeping the file's other lines. A relative
    # path is resolved against Terraform's working directory at plan time
    # (resolved_path), and every later rotation writes that same file.
    { path = ".env" },
  ]
}

# A token the billing service reads from Vault and from AWS Secrets Manager.
# tokenward creates each secret marked managed-by = tokenward/billing-api (a
# custom_metadata entry in Vault, a tag in AWS) and never writes or deletes
# a secret without that mark. In AWS each rotation is a new version: the
# previous value stays readable as AWSPREVIOUS during the overlap.
resource "tokenward_token" "billing_api" {
  name   = "billing-api"
  owner  = "billing"
  scopes = [tokenward_scope.billing_read.name]

  vault_secrets = [
    { path = "apps/billing", key = "API_TOKEN" },
    { path = "apps/billing" }, # the field is BILLING_API, from the token's name
  ]
  aws_secrets = [
    { name = "billing/api-token" },
  ]
}

# A token shared by the organization's repositories and by Dependabot.
resource "tokenward_token" "registry_read" {
  name   = "registry-read"
  owner  = "platform"
  scopes = [tokenward_scope.packages_read.name]
  ttl    = "30d"

  github_organization_secrets = [
    { organization = "acme", name = "REGISTRY_TOKEN", visibility = "selected", repositories = ["api", "web"] },
  ]
  github_dependabot_secrets = [
    { repository = "acme/web", name = "REGISTRY_TOKEN" },
  ]
  files = [
    # The whole file is the value; readable by the file's group too, such as
    # the consumer's (group = "acme", given as a name or a numeric id).
    { path = "/etc/acme/registry-token", format = "raw", mode = "0640" },
  ]
}

# A token a partner's service calls the billing API with, through
# tokenward serve: accepted only from the partner's networks (a use from
# anywhere else is ip_denied, and where the client's address is not known it
# is refused), and at most 100 times a minute by each tokenward serve
# instance, so 3 instances behind a load balancer allow up to 300. Changing
# either updates the token in place, without a new value.
resource "tokenward_token" "billing_partner" {
  name   = "billing-partner"
  owner  = "billing"
  scopes = [tokenward_scope.billing_read.name]

  allowed_cidrs = ["203.0.113.0/24", "2001:db8:42::/48"]
  rate_limit    = { requests = 100, per = "1m" }

  files = [
    { path = "/etc/acme/billing-partner-token", format = "raw" },
  ]
}

# A honeytoken: a decoy planted where an intruder would look, such as a
# .env file on a build host. It is issued and delivered like any token, but
# no value of it ever verifies: tokenward serve and tokenward verify answer
# it as an unknown token, and any use raises the honeytoken_used alert with
# the source, user agent and path. Its scopes are bait; tokenward review
# marks it as a honeytoken, and tokenward rotate leaves it alone unless given
# --honeytokens or its name. Changing honeytoken replaces the token.
resource "tokenward_token" "decoy_deploy" {
  name       = "deploy-admin"
  owner      = "security"
  scopes     = [tokenward_scope.deployments_write.name]
  honeytoken = true

  files = [
    { path = "/srv/build/.env", key = "DEPLOY_ADMIN_TOKEN" },
  ]
}
