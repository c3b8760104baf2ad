data "tokenward_user_config" "alice" {
  user = "alice@example.com"
}

# Values are JSON, since settings have different types; sensitive values are null.
output "alice_config" {
  value = {
    for e in data.tokenward_user_config.alice.effective :
    e.key => e.sensitive ? null : jsondecode(e.value)
  }
}

# Where each value comes from: default, user or enforced.
output "alice_sources" {
  value = { for e in data.tokenward_user_config.alice.effective : e.key => e.source }
}
