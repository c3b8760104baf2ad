# A role is imported by its name.
terraform import tokenward_role.billing_clerk billing-clerk
