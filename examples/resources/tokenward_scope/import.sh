# A scope is imported by its name.
terraform import tokenward_scope.billing_read billing:read
