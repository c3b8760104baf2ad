resource "tokenward_setting" "session_timeout" {
  key     = "session.timeout_minutes"
  type    = "number"
  default = 15
  max     = 120
}

resource "tokenward_setting" "theme" {
  key            = "ui.theme"
  type           = "string"
  default        = "light"
  allowed_values = ["light", "dark"]
}

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

variable "alice_smtp_password" {
  type      = string
  sensitive = true
  ephemeral = true
}

# Keys in parentheses refer to the settings, so Terraform creates them first.
resource "tokenward_user_config" "alice" {
  user = "alice@example.com"
  values = {
    (tokenward_setting.session_timeout.key) = 30
    (tokenward_setting.theme.key)           = "dark"
  }
  # Values of sensitive settings are write-only (Terraform 1.11 or later).
  sensitive_values = {
    (tokenward_setting.smtp_password.key) = var.alice_smtp_password
  }
}
