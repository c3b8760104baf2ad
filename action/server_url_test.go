package main

import (
	"encoding/json"
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

// TestTerminalSafeJSON: JSON output escapes the C1 controls and
// bidirectional overrides encoding/json leaves as they are, and stays the
// same JSON (the outside review's hostile user agent).
func TestTerminalSafeJSON(t *testing.T) {
	t.Parallel()
	in := map[string]string{"user_agent": "curl\u009b31m/8\u202etxt.exe", "path": "/api/é"}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := terminalSafeJSON(b)
	if strings.ContainsRune(string(out), 0x9b) || strings.ContainsRune(string(out), 0x202e) || !strings.Contains(string(out), `\u009b`) {
		t.Fatalf("terminalSafeJSON = %s", out)
	}
	var back map[string]string
	if err := json.Unmarshal(out, &back); err != nil || back["user_agent"] != in["user_agent"] || back["path"] != in["path"] {
		t.Fatalf("the escaped JSON reads back as %q, %v", back, err)
	}
}
