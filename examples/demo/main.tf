# The tokenward demo (`make demo` applies it in a temporary directory):
# two scopes, a role, two tokens delivered to local files, three settings and
# one user's configuration. Nothing here holds a secret: token values are
# issued by the provider, written only to the files below and never to state.

terraform {
  required_version = ">= 1.8"
  required_providers {
    tokenward = {
      source = "tokenward/tokenward"
    }
  }
}

# The store and the master key come from the environment: TOKENWARD_STORE
# (a SQLite file here) and TOKENWARD_MASTER_KEY_FILE.
provider "tokenward" {
  # Organisation limits, checked at plan time on every token.
  policy = {
    max_ttl       = "90d"
    min_overlap   = "1h"
    require_owner = true
  }
}

locals {
  # Absolute, so that `tokenward rotate` writes the same files from any
  # working directory.
  token_dir = var.token_dir != null ? var.token_dir : abspath("${path.root}/tokens")
}

# --- Scopes and a role -----------------------------------------------------

resource "tokenward_scope" "billing_read" {
  name        = "billing:read"
  description = "Read invoices and receipts."
}

resource "tokenward_scope" "reports_write" {
  name        = "reports:write"
  description = "Publish monthly reports."
}

# Declared only when widen = true: the change `make demo` reviews.
resource "tokenward_scope" "billing_all" {
  count       = var.widen ? 1 : 0
  name        = "billing:*"
  description = "Every action on billing, including refunds and deletes."
}

resource "tokenward_role" "billing_reader" {
  name        = "billing-reader"
  description = "Reads billing data."
  scopes      = [tokenward_scope.billing_read.name]
}

# --- Tokens ----------------------------------------------------------------

# Reports job in CI: writes reports and reads billing through its role. Its
# value goes into a dotenv file as REPORTS_TOKEN=<value>.
resource "tokenward_token" "ci_reports" {
  name        = "ci-reports"
  owner       = "platform"
  description = "Publishes the monthly reports from CI."
  scopes      = [tokenward_scope.reports_write.name]
  roles       = [tokenward_role.billing_reader.name]

  ttl           = "90d"
  rotate_before = "14d"
  overlap       = "1h" # the old value stays valid for an hour after a rotation

  files = [
    { path = "${local.token_dir}/ci-reports.env", key = "REPORTS_TOKEN" },
  ]
}

# A nightly billing export: the file holds only the value.
resource "tokenward_token" "billing_export" {
  name        = "billing-export"
  owner       = "finance"
  description = "Exports invoices to the data warehouse every night."
  roles       = [tokenward_role.billing_reader.name]
  scopes      = [for s in tokenward_scope.billing_all : s.name] # billing:* when widen = true, else none

  ttl           = "30d"
  rotate_before = "7d"
  overlap       = "1h"

  files = [
    { path = "${local.token_dir}/billing-export.token", format = "raw" },
  ]
}

# --- User configuration ----------------------------------------------------

resource "tokenward_setting" "theme" {
  key            = "ui.theme"
  type           = "string"
  default        = "light"
  allowed_values = ["light", "dark"]
  description    = "Colour scheme of the web console."
}

resource "tokenward_setting" "session_timeout" {
  key         = "session.timeout_minutes"
  type        = "number"
  default     = 15
  min         = 5
  max         = 120
  description = "Minutes before an idle session ends."
}

# Enforced for everyone: users cannot override it.
resource "tokenward_setting" "audit_uploads" {
  key           = "audit.uploads"
  type          = "bool"
  default       = true
  user_editable = false
  description   = "Whether uploads are recorded in the audit log."
}

resource "tokenward_user_config" "alice" {
  user = "alice@example.com"
  values = {
    (tokenward_setting.theme.key)           = "dark"
    (tokenward_setting.session_timeout.key) = 30
  }
}
