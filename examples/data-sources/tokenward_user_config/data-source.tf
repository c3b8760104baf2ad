data "tokenward_user_config" "alice" {
  user = "alice@example.com"
}

# Each value in its own type, keyed by setting, without jsondecode:
# values["data.region"] is "eu" when that is alice's region. Sensitive values
# are null. lookup() gives a fallback while the setting is not declared.
output "alice_values" {
  value = data.tokenward_user_config.alice.values
}

output "alice_region" {
  value = lookup(data.tokenward_user_config.alice.values, "data.region", "us")
}

# The same values as JSON, one entry per setting.
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
