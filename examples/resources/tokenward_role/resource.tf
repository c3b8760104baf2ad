resource "tokenward_scope" "billing_read" {
  name = "billing:read"
}

resource "tokenward_scope" "billing_write" {
  name = "billing:write"
}

# Referring to the scopes makes Terraform create them before the role.
resource "tokenward_role" "billing_clerk" {
  name        = "billing-clerk"
  description = "Reads and pays invoices."
  scopes = [
    tokenward_scope.billing_read.name,
    tokenward_scope.billing_write.name,
  ]
}
