package main

import (
	"net/url"
	"strings"
	"testing"
)

// TestCheckServerScheme: a caller's token goes over plain HTTP only to this
// host (the outside review saw config --server send it in clear).
func TestCheckServerScheme(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://tokenward.internal:8420", true},
		{"http://127.0.0.1:8420", true},
		{"http://127.0.0.53:8420", true},
		{"http://[::1]:8420", true},
		{"http://localhost:8420", true},
		{"http://tokenward.internal:8420", false},
		{"http://10.0.0.5:8420", false},
		{"http://[::ffff:10.0.0.5]:8420", false},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		err = checkServerScheme(u)
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "https://")) {
			t.Errorf("%s: %v, want ok %v", tc.url, err, tc.ok)
		}
	}
}
