# A credential is imported by its name, such as one declared beside its
# existing database password; its rotation_triggers are kept only in
# Terraform state, so an imported credential starts with none.
terraform import tokenward_credential.billing_db billing-db
