// Package release holds the check of what `make release-snapshot` writes to
// dist/: the Terraform Registry's file layout, both SHA256SUMS files, the
// versions stamped in the binaries, and a provider zip installed by
// `terraform init` from a filesystem mirror. The test is built only with
// -tags release (`make release-check`), since it needs dist/ made first.
package release
