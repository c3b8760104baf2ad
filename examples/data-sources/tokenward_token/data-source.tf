# A token's metadata, never its value: for example to check in CI that a
# token holds no more scopes than expected.
data "tokenward_token" "ci_deploy" {
  name = "ci-deploy"
}

output "ci_deploy_scopes" {
  value = data.tokenward_token.ci_deploy.effective_scopes
}

output "ci_deploy_next_rotation" {
  value = data.tokenward_token.ci_deploy.next_rotation_at
}
