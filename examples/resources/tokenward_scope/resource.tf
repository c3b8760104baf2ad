resource "tokenward_scope" "billing_read" {
  name        = "billing:read"
  description = "Read invoices and receipts."
}

# Every action on users.
resource "tokenward_scope" "users_all" {
  name        = "users:*"
  description = "Manage users."
}

# Refunds move money: tokenward review raises every grant of it as high, and
# the provider's policy may cap or require an owner for tokens holding it.
resource "tokenward_scope" "billing_refund" {
  name        = "billing:refund"
  description = "Refund invoices."
  privileged  = true
}
