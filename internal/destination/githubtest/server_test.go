package githubtest

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"golang.org/x/crypto/nacl/box"
)

type client struct {
	t   *testing.T
	s   *Server
	tok string
}

// raw sends a request and returns the status, the Link header and the body.
func (c client) raw(method, path, body string) (int, string, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.s.URL()+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.tok != "" {
		req.Header.Set("Authorization", "Bearer "+c.tok)
	}
	resp, err := c.s.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Link"), b
}

// do sends body as JSON (none when nil) and decodes the answer's JSON object.
func (c client) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var raw string
	if body != nil {
		b, _ := json.Marshal(body)
		raw = string(b)
	}
	st, _, b := c.raw(method, path, raw)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return st, out
}

// seal fetches the public key at keyPath and seals value for it.
func (c client) seal(keyPath, value string) map[string]any {
	c.t.Helper()
	st, k := c.do("GET", keyPath, nil)
	if st != 200 {
		c.t.Fatalf("GET %s: %d %v", keyPath, st, k)
	}
	raw, err := base64.StdEncoding.DecodeString(k["key"].(string))
	if err != nil || len(raw) != 32 {
		c.t.Fatalf("public key %v: %v", k, err)
	}
	var pub [32]byte
	copy(pub[:], raw)
	sealed, err := box.SealAnonymous(nil, []byte(value), &pub, rand.Reader)
	if err != nil {
		c.t.Fatal(err)
	}
	return map[string]any{"key_id": k["key_id"], "encrypted_value": base64.StdEncoding.EncodeToString(sealed)}
}

func setup(t *testing.T, opts ...Option) (*Server, client) {
	s := New(t, opts...)
	s.AddRepo("acme/api")
	s.AddEnvironment("acme/api", "prod east")
	s.AddOrg("acme")
	s.AddToken("writer", true)
	s.AddToken("reader", false)
	return s, client{t: t, s: s, tok: "writer"}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"none", "", 401},
		{"unknown token", "Bearer nope", 401},
		{"bearer", "Bearer writer", 200},
		{"token scheme", "token writer", 200},
		{"basic", "Basic d3JpdGVyOg==", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := setup(t)
			req, _ := http.NewRequest("GET", s.URL()+"repos/acme/api", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestRepoSecretLifecycle(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	const key = "repos/acme/api/actions/secrets/public-key"
	if st, _ := c.do("PUT", "repos/acme/api/actions/secrets/DEPLOY", c.seal(key, "one")); st != 201 {
		t.Fatalf("create: %d, want 201", st)
	}
	if st, _ := c.do("PUT", "repos/acme/api/actions/secrets/DEPLOY", c.seal(key, "two")); st != 204 {
		t.Fatalf("update: %d, want 204", st)
	}
	if v, ok := s.RepoSecret("acme/api", "DEPLOY"); !ok || v != "two" {
		t.Fatalf("RepoSecret = %q, %v; want two", v, ok)
	}
	if _, ok := s.DependabotSecret("acme/api", "DEPLOY"); ok {
		t.Fatal("an Actions secret leaked into the Dependabot scope")
	}
	if st, _ := c.do("DELETE", "repos/acme/api/actions/secrets/DEPLOY", nil); st != 204 {
		t.Fatalf("delete: %d, want 204", st)
	}
	if st, _ := c.do("DELETE", "repos/acme/api/actions/secrets/DEPLOY", nil); st != 404 {
		t.Fatalf("delete again: %d, want 404", st)
	}
	if _, ok := s.RepoSecret("acme/api", "DEPLOY"); ok {
		t.Fatal("secret still there after delete")
	}
}

func TestRejections(t *testing.T) {
	t.Parallel()
	const key = "repos/acme/api/actions/secrets/public-key"
	for _, tc := range []struct {
		name  string
		tok   string
		path  string
		body  func(c client) map[string]any
		want  int
		inMsg string
	}{
		{"no write permission", "reader", "repos/acme/api/actions/secrets/X", func(c client) map[string]any { return c.seal(key, "v") }, 403, "Resource not accessible by integration"},
		{"delete without permission", "reader", "repos/acme/api/actions/secrets/X", nil, 403, "Resource not accessible"},
		{"unknown repository", "writer", "repos/acme/nope/actions/secrets/X", func(c client) map[string]any { return c.seal(key, "v") }, 404, "Not Found"},
		{"unknown repository key", "writer", "repos/acme/nope/actions/secrets/public-key", nil, 404, "Not Found"},
		{"unknown environment", "writer", "repos/acme/api/environments/staging/secrets/public-key", nil, 404, "Not Found"},
		{"unknown org", "writer", "orgs/umbrella/actions/secrets/public-key", nil, 404, "Not Found"},
		{"missing key_id", "writer", "repos/acme/api/actions/secrets/X", func(c client) map[string]any {
			b := c.seal(key, "v")
			delete(b, "key_id")
			return b
		}, 422, "key_id"},
		{"stale key_id", "writer", "repos/acme/api/actions/secrets/X", func(c client) map[string]any {
			b := c.seal(key, "v")
			b["key_id"] = "1"
			return b
		}, 422, "improperly encrypted"},
		{"bad ciphertext", "writer", "repos/acme/api/actions/secrets/X", func(c client) map[string]any {
			b := c.seal(key, "v")
			b["encrypted_value"] = base64.StdEncoding.EncodeToString(make([]byte, 60))
			return b
		}, 422, "improperly encrypted"},
		{"sealed for another scope", "writer", "repos/acme/api/actions/secrets/X", func(c client) map[string]any {
			b := c.seal("repos/acme/api/dependabot/secrets/public-key", "v")
			st, k := c.do("GET", key, nil)
			if st != 200 {
				c.t.Fatal(st)
			}
			b["key_id"] = k["key_id"]
			return b
		}, 422, "improperly encrypted"},
		{"invalid name", "writer", "repos/acme/api/actions/secrets/1BAD", func(c client) map[string]any { return c.seal(key, "v") }, 422, "Secret names"},
		{"reserved name", "writer", "repos/acme/api/actions/secrets/GITHUB_X", func(c client) map[string]any { return c.seal(key, "v") }, 422, "GITHUB_"},
		{"org visibility missing", "writer", "orgs/acme/actions/secrets/X", func(c client) map[string]any { return c.seal("orgs/acme/actions/secrets/public-key", "v") }, 422, "visibility"},
		{"org selected unknown id", "writer", "orgs/acme/actions/secrets/X", func(c client) map[string]any {
			b := c.seal("orgs/acme/actions/secrets/public-key", "v")
			b["visibility"] = "selected"
			b["selected_repository_ids"] = []int64{42}
			return b
		}, 422, "42"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, c := setup(t)
			var body map[string]any
			if tc.body != nil {
				body = tc.body(c)
			}
			method := "PUT"
			if body == nil {
				method = "DELETE"
				if strings.HasSuffix(tc.path, "public-key") {
					method = "GET"
				} else {
					// a secret to (not) delete
					if st, _ := c.do("PUT", tc.path, c.seal(key, "v")); st != 201 && st != 404 {
						t.Fatalf("seed: %d", st)
					}
				}
			}
			c.tok = tc.tok
			st, out := c.do(method, tc.path, body)
			if st != tc.want {
				t.Fatalf("%s %s: %d %v, want %d", method, tc.path, st, out, tc.want)
			}
			if m, _ := out["message"].(string); !strings.Contains(m, tc.inMsg) {
				t.Errorf("message %q does not contain %q", m, tc.inMsg)
			}
			if method == "PUT" {
				if _, ok := s.RepoSecret("acme/api", "X"); ok {
					t.Error("a rejected secret was stored")
				}
			}
		})
	}
}

func TestEnvironmentSecretBothPaths(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	id := s.AddRepo("acme/api")
	s.AddEnvironment("acme/api", "a/b")
	for _, tc := range []struct{ env, base string }{
		{"prod east", "repos/acme/api/environments/prod%20east/secrets/"},
		{"prod east", "repositories/" + strconv.FormatInt(id, 10) + "/environments/prod%20east/secrets/"},
		{"a/b", "repositories/" + strconv.FormatInt(id, 10) + "/environments/a%2Fb/secrets/"},
	} {
		name := "S" + strconv.Itoa(len(tc.base))
		if st, out := c.do("PUT", tc.base+name, c.seal(tc.base+"public-key", tc.base)); st != 201 {
			t.Fatalf("PUT %s: %d %v", tc.base, st, out)
		}
		if v, ok := s.EnvSecret("acme/api", tc.env, name); !ok || v != tc.base {
			t.Errorf("EnvSecret(%q, %s) = %q, %v", tc.env, name, v, ok)
		}
		if _, ok := s.RepoSecret("acme/api", name); ok {
			t.Error("environment secret stored as a repository secret")
		}
	}
}

func TestOrgSecretSelected(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	id := s.AddRepo("acme/web")
	b := c.seal("orgs/acme/actions/secrets/public-key", "v")
	b["visibility"] = "selected"
	b["selected_repository_ids"] = []int64{id}
	if st, out := c.do("PUT", "orgs/acme/actions/secrets/X", b); st != 201 {
		t.Fatalf("PUT: %d %v", st, out)
	}
	v, vis, ids, ok := s.OrgSecret("acme", "X")
	if !ok || v != "v" || vis != "selected" || len(ids) != 1 || ids[0] != id {
		t.Fatalf("OrgSecret = %q %q %v %v", v, vis, ids, ok)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	reset := time.Now().Add(time.Hour).Truncate(time.Second)
	s.Fail("GET /repos/acme/api", Fault{Status: 502, Times: 2})
	s.Fail("GET /repos/acme/api", Fault{Status: 429, RetryAfter: "7"})
	s.Fail("GET /repos/acme/api", Fault{RateLimitReset: reset})
	for i, want := range []int{502, 502, 429, 403, 200, 200} {
		req, _ := http.NewRequest("GET", s.URL()+"repos/acme/api", nil)
		req.Header.Set("Authorization", "token writer")
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("request %d: %d, want %d", i, resp.StatusCode, want)
		}
		switch want {
		case 429:
			if resp.Header.Get("Retry-After") != "7" {
				t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
		case 403:
			if resp.Header.Get("X-RateLimit-Remaining") != "0" || resp.Header.Get("X-RateLimit-Reset") != strconv.FormatInt(reset.Unix(), 10) {
				t.Errorf("rate limit headers %v", resp.Header)
			}
		}
	}
	if n := c.s.Count("GET /repos/acme/api"); n != 6 {
		t.Errorf("Count = %d, want 6", n)
	}
}

func TestStallEndsWhenClientGivesUp(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	s.Fail("GET ", Fault{Stall: time.Hour})
	hc := s.Client()
	hc.Timeout = 50 * time.Millisecond
	req, _ := http.NewRequest("GET", s.URL()+"repos/acme/api", nil)
	req.Header.Set("Authorization", "token writer")
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("stalled request answered %d", resp.StatusCode)
	}
}

func TestPrefix(t *testing.T) {
	t.Parallel()
	s, c := setup(t, WithPrefix("/api/v3"))
	if !strings.HasSuffix(s.URL(), "/api/v3/") {
		t.Fatalf("URL %q", s.URL())
	}
	if st, _ := c.do("GET", "repos/acme/api", nil); st != 200 {
		t.Fatalf("under the prefix: %d", st)
	}
	resp, err := s.Client().Get(strings.TrimSuffix(s.URL(), "api/v3/") + "repos/acme/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("outside the prefix: %d, want 404", resp.StatusCode)
	}
}

func TestRotateKeys(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	const key = "repos/acme/api/actions/secrets/public-key"
	old := c.seal(key, "v")
	s.RotateKeys()
	if st, _ := c.do("PUT", "repos/acme/api/actions/secrets/X", old); st != 422 {
		t.Fatalf("sealed with the old key: %d, want 422", st)
	}
	if st, _ := c.do("PUT", "repos/acme/api/actions/secrets/X", c.seal(key, "v")); st != 201 {
		t.Fatalf("sealed with the new key: %d, want 201", st)
	}
}

func TestInstallationToken(t *testing.T) {
	t.Parallel()
	s, _ := setup(t)
	s.AddPullRequest("acme/api", 7)
	pemKey := s.AddApp(7, 70)
	other := s.AddApp(8, 80)
	sign := func(iss string, keyPEM []byte) string {
		blk, _ := pem.Decode(keyPEM)
		k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
			Issuer: iss, IssuedAt: jwt.NewNumericDate(now.Add(-30 * time.Second)), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		}).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		name, jwt, install string
		want               int
	}{
		{"valid", sign("7", pemKey), "70", 201},
		{"other app's key", sign("7", other), "70", 401},
		{"unknown app", sign("9", pemKey), "70", 401},
		{"wrong installation", sign("7", pemKey), "80", 404},
		{"garbage", "x.y.z", "70", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := client{t: t, s: s, tok: tc.jwt}
			st, out := c.do("POST", "app/installations/"+tc.install+"/access_tokens", nil)
			if st != tc.want {
				t.Fatalf("status %d %v, want %d", st, out, tc.want)
			}
			if st != 201 {
				return
			}
			c.tok = out["token"].(string)
			b := c.seal("repos/acme/api/actions/secrets/public-key", "v")
			if st, _ := c.do("PUT", "repos/acme/api/actions/secrets/APP", b); st != 201 {
				t.Fatalf("write with the installation token: %d", st)
			}
			st, out = c.do("POST", "repos/acme/api/issues/7/comments", map[string]any{"body": "hello"})
			if user, _ := out["user"].(map[string]any); st != 201 || user["login"] != "app-7[bot]" {
				t.Fatalf("comment with the installation token: %d %v, want 201 by app-7[bot]", st, out)
			}
		})
	}
}
