// Package gatewaytest holds the integration tests of tokenward serve behind
// real gateways from Debian's packages (nginx auth_request, Apache
// mod_auth_openidc, Caddy forward_auth) and of several serve processes on
// one store. Each test builds the tokenward binary, starts it and the
// gateway on loopback ports with configurations rendered from
// examples/serve, so the examples are what is tested. A test skips when a
// program is missing, and fails instead under CI (CI set), where .ci/run
// installs them. The package has no code of its own.
package gatewaytest
