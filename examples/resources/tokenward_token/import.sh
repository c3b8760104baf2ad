# A token is imported by its name. Its rotation_triggers are kept only in
# Terraform state, so an imported token starts with none.
terraform import tokenward_token.ci_deploy ci-deploy
