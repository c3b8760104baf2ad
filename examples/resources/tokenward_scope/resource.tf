resource "tokenward_scope" "billing_read" {
  name        = "billing:read"
  description = "Read invoices and receipts."
}

# Every action on users.
resource "tokenward_scope" "users_all" {
  name        = "users:*"
  description = "Manage users."
}
