package main

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// checkServerScheme refuses to send a caller's token over plain HTTP to
// anything but this host: https:// always, http:// only to a loopback
// address or localhost (a server started for a test, or behind a proxy on
// the same host). The caller's token is sent in the first request, so the
// server's own refusal of plain HTTP would come too late.
func checkServerScheme(u *url.URL) error {
	if u.Scheme == "https" {
		return nil
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Unmap().IsLoopback() {
		return nil
	}
	return fmt.Errorf("--server %s is plain http:// to another host, which would send the caller's token in clear: use https:// (http:// is for loopback only, such as http://%s)",
		u.Redacted(), net.JoinHostPort("127.0.0.1", "8420"))
}
