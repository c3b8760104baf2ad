data "tokenward_scopes" "all" {}

# Every scope a token may be granted, by name.
output "scope_names" {
  value = [for s in data.tokenward_scopes.all.scopes : s.name]
}
