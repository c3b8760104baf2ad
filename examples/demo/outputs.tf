# Fingerprints, never values: tw_ + version id + … + last four characters,
# enough to tell which value a consumer holds.
output "fingerprints" {
  value = {
    (tokenward_token.ci_reports.name)     = tokenward_token.ci_reports.fingerprint
    (tokenward_token.billing_export.name) = tokenward_token.billing_export.fingerprint
  }
}

output "next_rotation" {
  value = {
    (tokenward_token.ci_reports.name)     = tokenward_token.ci_reports.next_rotation_at
    (tokenward_token.billing_export.name) = tokenward_token.billing_export.next_rotation_at
  }
}

output "token_files" {
  value = {
    (tokenward_token.ci_reports.name)     = tokenward_token.ci_reports.files[0].path
    (tokenward_token.billing_export.name) = tokenward_token.billing_export.files[0].path
  }
}
