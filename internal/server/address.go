package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// peerAddr is the address of the connection's other end, invalid when the
// connection has none (a Unix socket).
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// clientAddr is the address the request came from: the peer's, or, when
// the peer is a trusted proxy, the one it forwarded. X-Forwarded-For is
// walked from the right, skipping trusted proxies, to the first address a
// trusted proxy did not add; without it, X-Real-IP (given twice: unknown,
// since a gateway added to a client's own). A trusted proxy that
// forwards nothing is the client itself; one that forwards garbage makes the
// address unknown (invalid), so a token with allowed networks fails closed.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	peer := peerAddr(r)
	if !s.trusted(peer) {
		return peer
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		hops := strings.Split(strings.Join(xff, ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := parseForwarded(hops[i])
			if !ok {
				return netip.Addr{}
			}
			if i == 0 || !s.trusted(a) {
				return a
			}
		}
	}
	real := r.Header.Values("X-Real-IP")
	if len(real) > 1 {
		// One address; several mean a gateway added its own to a client's
		// rather than replacing it, and which is whose is unknown.
		return netip.Addr{}
	}
	if len(real) == 1 && real[0] != "" {
		a, ok := parseForwarded(real[0])
		if !ok {
			return netip.Addr{}
		}
		return a
	}
	return peer
}

// trusted reports whether a is in one of the trusted proxies' networks.
func (s *Server) trusted(a netip.Addr) bool { return inNets(s.trustedProxies, a) }

// parseForwarded parses one forwarded address: an IP, possibly bracketed
// or with a port (1.2.3.4:5, [::1], [::1]:5).
func parseForwarded(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// inNets reports whether a is in one of nets.
func inNets(nets []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
