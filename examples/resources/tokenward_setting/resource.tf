# Defaults are plain values of the setting's type.
resource "tokenward_setting" "session_timeout" {
  key         = "session.timeout_minutes"
  type        = "number"
  default     = 15
  min         = 5
  max         = 120
  description = "Minutes before an idle session ends."
}

resource "tokenward_setting" "theme" {
  key            = "ui.theme"
  type           = "string"
  default        = "light"
  allowed_values = ["light", "dark"]
}

resource "tokenward_setting" "languages" {
  key     = "ui.languages"
  type    = "list"
  default = ["en-GB"]
  pattern = "[a-z]{2}-[A-Z]{2}"
}

# Enforced for everyone: users cannot override it.
resource "tokenward_setting" "audit_uploads" {
  key           = "audit.uploads"
  type          = "bool"
  default       = true
  user_editable = false
}

resource "tokenward_setting" "rate_limits" {
  key     = "api.rate_limits"
  type    = "json"
  default = { per_minute = 600, burst = 50 }
}

# A sensitive default is write-only (Terraform 1.11 or later): it is sealed in
# the store and never written to state or plans. Pass it through an ephemeral
# variable so that the plan file does not hold it either.
variable "smtp_password" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "tokenward_setting" "smtp_password" {
  key               = "smtp.password"
  type              = "string"
  sensitive         = true
  sensitive_default = var.smtp_password
}
