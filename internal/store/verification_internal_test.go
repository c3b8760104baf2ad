package store

import (
	"errors"
	"strings"
	"testing"
)

// TestRunningStoreRedactsPassword: an error of a running PostgreSQL store
// (what a Source shows in its status and log) never holds the DSN's
// password, as written or percent-decoded, and still unwraps to its cause.
func TestRunningStoreRedactsPassword(t *testing.T) {
	const dsn = "postgres://verifier:p%40ss%2Fw0rd-42@db.example.com/tokenward"
	cause := errors.New("connection refused")
	cases := map[string]error{
		"decoded":  errors.Join(errors.New("dial postgres://verifier:p@ss/w0rd-42@db.example.com"), cause),
		"as typed": errors.Join(errors.New("bad url postgres://verifier:p%40ss%2Fw0rd-42@db"), cause),
	}
	s := &sqlStore{opts: options{dsn: dsn}}
	for name, err := range cases {
		t.Run(name, func(t *testing.T) {
			got := s.redact(err)
			for _, secret := range []string{"p@ss/w0rd-42", "p%40ss%2Fw0rd-42"} {
				if strings.Contains(got.Error(), secret) {
					t.Errorf("redacted error shows the password: %s", got)
				}
			}
			if !errors.Is(got, cause) {
				t.Errorf("redacted error does not unwrap to its cause: %v", got)
			}
		})
	}
	if err := (&sqlStore{}).redact(cause); err != cause {
		t.Errorf("a SQLite store's error changed: %v", err)
	}
}
