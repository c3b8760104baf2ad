# The tokens a tokenward serve deployment needs (see README.md beside this
# file): the caller token a gateway authenticates with, and an API client's
# token that the gateways check.

terraform {
  required_version = ">= 1.8"
  required_providers {
    tokenward = {
      source = "tokenward/tokenward"
    }
  }
}

# The store and the master key come from the environment: TOKENWARD_STORE
# and TOKENWARD_MASTER_KEY_FILE. tokenward serve reads the same store
# without the master key.
provider "tokenward" {}

resource "tokenward_scope" "billing_read" {
  name        = "billing:read"
  description = "Read invoices and receipts."
}

# Apache's mod_auth_openidc introspects tokens (POST /oauth2/introspect) and
# must authenticate as a caller that grants the built-in scope
# tokenward:introspect: its name is the client id, its value the client
# secret. The value is written to the file apache.conf's envvars line reads,
# on the machine that runs terraform apply and tokenward rotate; when that
# is not the Apache host, deliver it to a GitHub secret your deployment
# copies there instead. Reload Apache after a rotation, within the overlap.
resource "tokenward_token" "apache_gateway" {
  name        = "apache-gateway"
  owner       = "platform"
  description = "Apache introspects billing clients' tokens with it."
  scopes      = ["tokenward:introspect"]
  ttl         = "30d"
  overlap     = "2d"

  files = [
    { path = "/etc/tokenward/apache-gateway.env", key = "TOKENWARD_CLIENT_SECRET" },
  ]
}

# An API client: the gateways let it read billing, only from its own
# network, and at most 100 requests a minute through each tokenward serve
# instance (N instances behind a load balancer allow up to N x 100).
resource "tokenward_token" "billing_client" {
  name          = "billing-client"
  owner         = "billing"
  description   = "The reporting job reads invoices through the API."
  scopes        = [tokenward_scope.billing_read.name]
  allowed_cidrs = ["192.0.2.0/24", "2001:db8::/32"]
  rate_limit    = { requests = 100, per = "1m" }

  github_secrets = [
    { repository = "acme/reports", name = "BILLING_TOKEN" },
  ]
}
