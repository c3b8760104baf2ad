package destination

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v60/github"
	"golang.org/x/crypto/nacl/box"

	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// DefaultGitHubAPIURL is the API of github.com.
const DefaultGitHubAPIURL = "https://api.github.com/"

// GitHubConfig configures a GitHub writer. Exactly one of Token and the
// GitHub App (AppID, InstallationID, PrivateKey) must be set.
type GitHubConfig struct {
	// Token is a personal access token or a workflow's GITHUB_TOKEN.
	Token string
	// AppID, InstallationID and PrivateKey (PEM) authenticate as an
	// installation of a GitHub App.
	AppID, InstallationID int64
	PrivateKey            []byte
	// APIURL is the REST API root, https://api.github.com/ by default; for
	// GitHub Enterprise Server, https://HOST/api/v3.
	APIURL string
	// Pace is the least time between two writes (POST, PUT, PATCH or
	// DELETE); 0 disables pacing. GitHub asks integrations to space writes
	// by a second.
	Pace time.Duration
	// MaxAttempts bounds the attempts of one request; 5 by default.
	MaxAttempts int
	// RequestTimeout bounds one attempt, response body included; 30s by
	// default.
	RequestTimeout time.Duration
	// HTTPClient supplies the transport; http.DefaultTransport by default.
	HTTPClient *http.Client
	// Sleep waits between attempts and writes; a timer that honours ctx by
	// default.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock that rate-limit resets and pacing are measured
	// against; time.Now by default.
	Now func() time.Time
}

// Environment variables GitHubConfigFromEnv reads.
const (
	EnvGitHubToken          = "GITHUB_TOKEN"           // a fallback for EnvTokenwardGitHubToken
	EnvTokenwardGitHubToken = "TOKENWARD_GITHUB_TOKEN" // read first
	EnvGitHubAPIURL         = "GITHUB_API_URL"
	EnvGitHubAppID          = "TOKENWARD_GITHUB_APP_ID"
	EnvGitHubInstallation   = "TOKENWARD_GITHUB_APP_INSTALLATION_ID"
	EnvGitHubAppKey         = "TOKENWARD_GITHUB_APP_PRIVATE_KEY"
	EnvGitHubAppKeyFile     = "TOKENWARD_GITHUB_APP_PRIVATE_KEY_FILE"
	EnvGitHubPace           = "TOKENWARD_GITHUB_PACE"
)

// GitHubConfigFromEnv reads the GitHub configuration from the environment
// through getenv. It reports false, and no error, when no credentials are
// set at all. Pace is 1s unless TOKENWARD_GITHUB_PACE says otherwise.
func GitHubConfigFromEnv(getenv func(string) string) (GitHubConfig, bool, error) {
	c := GitHubConfig{Token: getenv(EnvTokenwardGitHubToken), APIURL: getenv(EnvGitHubAPIURL), Pace: time.Second}
	appID, inst := getenv(EnvGitHubAppID), getenv(EnvGitHubInstallation)
	key, keyFile := getenv(EnvGitHubAppKey), getenv(EnvGitHubAppKeyFile)
	app := appID != "" || inst != "" || key != "" || keyFile != ""
	// GITHUB_TOKEN is often set for a whole job to the workflow's own token,
	// which cannot write secrets: it is only a fallback, and a configured
	// GitHub App wins over it.
	if c.Token == "" && !app {
		c.Token = getenv(EnvGitHubToken)
	}
	if c.Token == "" && !app {
		return GitHubConfig{}, false, nil
	}
	if p := getenv(EnvGitHubPace); p != "" {
		d, err := time.ParseDuration(p)
		if err != nil || d < 0 {
			return c, true, fmt.Errorf("%s: %q is not a duration such as 1s or 500ms", EnvGitHubPace, p)
		}
		c.Pace = d
	}
	if !app {
		return c, true, nil
	}
	if c.Token != "" {
		return c, true, fmt.Errorf("both %s and a GitHub App (%s, ...) are set: set only one", EnvTokenwardGitHubToken, EnvGitHubAppID)
	}
	var err error
	if c.AppID, err = envID(EnvGitHubAppID, appID); err != nil {
		return c, true, err
	}
	if c.InstallationID, err = envID(EnvGitHubInstallation, inst); err != nil {
		return c, true, err
	}
	switch {
	case key != "" && keyFile != "":
		return c, true, fmt.Errorf("both %s and %s are set: set only one", EnvGitHubAppKey, EnvGitHubAppKeyFile)
	case key != "":
		c.PrivateKey = []byte(key)
	case keyFile != "":
		if c.PrivateKey, err = os.ReadFile(keyFile); err != nil {
			return c, true, fmt.Errorf("%s: %w", EnvGitHubAppKeyFile, err)
		}
	default:
		return c, true, fmt.Errorf("the GitHub App's private key is missing: set %s or %s", EnvGitHubAppKey, EnvGitHubAppKeyFile)
	}
	return c, true, nil
}

func envID(name, v string) (int64, error) {
	if v == "" {
		return 0, fmt.Errorf("%s is not set: a GitHub App needs %s, %s and a private key", name, EnvGitHubAppID, EnvGitHubInstallation)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s: %q is not a GitHub id", name, v)
	}
	return n, nil
}

// GitHub writes token values to GitHub Actions repository, environment and
// organization secrets and to Dependabot secrets. It is safe for concurrent
// use. Public keys and repository ids are fetched once per writer.
type GitHub struct {
	client *github.Client
	stats  githubCounters
	keys   cache[*publicKey]
	repos  cache[int64]
}

var _ Writer = (*GitHub)(nil)

// GitHubStats counts what a GitHub writer did since it was made.
type GitHubStats struct {
	Requests    int // HTTP requests sent, retries included
	Writes      int // secrets written or deleted
	KeyFetches  int // public keys fetched
	RepoLookups int // repository ids looked up
	Retries     int // requests sent again after a failure or a rate limit
}

// Stats returns the writer's counters.
func (g *GitHub) Stats() GitHubStats {
	return GitHubStats{
		Requests:    int(g.stats.requests.Load()),
		Writes:      int(g.stats.writes.Load()),
		KeyFetches:  int(g.stats.keyFetches.Load()),
		RepoLookups: int(g.stats.repoLookups.Load()),
		Retries:     int(g.stats.retries.Load()),
	}
}

// NewGitHub returns a GitHub writer.
func NewGitHub(cfg GitHubConfig) (*GitHub, error) {
	g := &GitHub{}
	c, err := newGitHubClient(cfg, &g.stats)
	if err != nil {
		return nil, err
	}
	g.client = c
	return g, nil
}

// NewGitHubClient returns a go-github client for cfg's API and credentials
// that sends its requests as the GitHub writer does: authenticated by token
// or as a GitHub App installation, each attempt timed out, failures retried
// with backoff, Retry-After and rate limits waited out, and writes (POST,
// PUT, PATCH, DELETE) made one at a time, paced by cfg.Pace. A POST that
// GitHub may have acted on (a 5xx, a timeout) is not sent again, so that a
// comment is never created twice by a retry: the caller decides.
//
// Each call makes its own transport: writes are serialised and paced
// between the requests of one client, not across clients.
func NewGitHubClient(cfg GitHubConfig) (*github.Client, error) {
	return newGitHubClient(cfg, &githubCounters{})
}

func newGitHubClient(cfg GitHubConfig, stats *githubCounters) (*github.Client, error) {
	app := cfg.AppID != 0 || cfg.InstallationID != 0 || len(cfg.PrivateKey) > 0
	switch {
	case cfg.Token != "" && app:
		return nil, errors.New("github: both a token and a GitHub App are configured: configure only one")
	case cfg.Token == "" && !app:
		return nil, ErrNoGitHub
	case app && (cfg.AppID <= 0 || cfg.InstallationID <= 0 || len(cfg.PrivateKey) == 0):
		return nil, errors.New("github: a GitHub App needs its app id, installation id and private key")
	case cfg.Pace < 0 || cfg.MaxAttempts < 0 || cfg.RequestTimeout < 0:
		return nil, errors.New("github: pace, attempts and timeout must not be negative")
	}
	api := cfg.APIURL
	if api == "" {
		api = DefaultGitHubAPIURL
	}
	base, err := url.Parse(api)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("github: API URL %q must be http(s)://host[/path], such as https://ghe.example/api/v3", api)
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}

	tr := &githubTransport{
		base:        http.DefaultTransport,
		pace:        cfg.Pace,
		maxAttempts: cmp(cfg.MaxAttempts, 5),
		timeout:     cmp(cfg.RequestTimeout, 30*time.Second),
		sleep:       cfg.Sleep,
		now:         cfg.Now,
		stats:       stats,
		paceTurn:    make(chan struct{}, 1),
	}
	if tr.sleep == nil {
		tr.sleep = sleepContext
	}
	if tr.now == nil {
		tr.now = time.Now
	}
	hc := &http.Client{}
	if cfg.HTTPClient != nil {
		*hc = *cfg.HTTPClient
		if hc.Transport != nil {
			tr.base = hc.Transport
		}
	}
	var client *github.Client
	if app {
		itr, err := ghinstallation.New(tr, cfg.AppID, cfg.InstallationID, cfg.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("github: GitHub App private key: %w", err)
		}
		itr.BaseURL = strings.TrimSuffix(base.String(), "/")
		hc.Transport = itr
		client = github.NewClient(hc)
	} else {
		hc.Transport = tr
		client = github.NewClient(hc).WithAuthToken(cfg.Token)
	}
	client.BaseURL = base
	return client, nil
}

func cmp[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// target is a resolved GitHub destination.
type target struct {
	kind        string
	owner, repo string // repository, environment and Dependabot secrets
	env         string
	org         string
	name        string
	visibility  string
	selected    []int64
	repoID      int64 // environment secrets
	scope       string
}

func (t target) full() string { return t.owner + "/" + t.repo }

func (g *GitHub) config(d store.Destination) (Config, error) {
	c, err := Decode(d)
	if err != nil {
		return c, err
	}
	if !IsGitHub(d.Kind) {
		return c, fmt.Errorf("%q is not a GitHub destination", d.Kind)
	}
	if err := Check(d.Kind, c); err != nil {
		return c, err
	}
	return c, nil
}

// resolve turns a configuration into a target, looking up the repository
// ids that environment and selected organization secrets need.
func (g *GitHub) resolve(ctx context.Context, kind string, c Config, forWrite bool) (target, error) {
	t := target{kind: kind, env: c.Environment, org: c.Organization, name: c.Name, visibility: c.Visibility}
	t.owner, t.repo, _ = strings.Cut(c.Repository, "/")
	switch {
	case kind == KindOrganizationSecret:
		t.scope = "org:" + strings.ToLower(t.org)
		if !forWrite || t.visibility != VisibilitySelected {
			return t, nil
		}
		seen := map[int64]bool{}
		for _, r := range c.Repositories {
			full := r
			if !strings.Contains(r, "/") {
				full = t.org + "/" + r
			}
			id, err := g.repoID(ctx, full)
			if err != nil {
				return t, explain(err, subject{repo: full, selectedFor: t.org})
			}
			if !seen[id] {
				seen[id] = true
				t.selected = append(t.selected, id)
			}
		}
	case kind == KindDependabotSecret:
		t.scope = "dependabot:" + strings.ToLower(c.Repository)
	case t.env != "":
		id, err := g.repoID(ctx, c.Repository)
		if err != nil {
			return t, explain(err, subject{repo: c.Repository})
		}
		t.repoID = id
		t.scope = "env:" + strconv.FormatInt(id, 10) + ":" + t.env
	default:
		t.scope = "repo:" + strings.ToLower(c.Repository)
	}
	return t, nil
}

func (g *GitHub) repoID(ctx context.Context, full string) (int64, error) {
	return g.repos.get(strings.ToLower(full), func() (int64, error) {
		g.stats.repoLookups.Add(1)
		owner, name, _ := strings.Cut(full, "/")
		r, _, err := g.client.Repositories.Get(ctx, owner, name)
		if err != nil {
			return 0, err
		}
		return r.GetID(), nil
	})
}

type publicKey struct {
	id  string
	key [32]byte
}

func (g *GitHub) publicKey(ctx context.Context, t target) (*publicKey, error) {
	return g.keys.get(t.scope, func() (*publicKey, error) {
		g.stats.keyFetches.Add(1)
		var (
			k   *github.PublicKey
			err error
		)
		switch {
		case t.kind == KindOrganizationSecret:
			k, _, err = g.client.Actions.GetOrgPublicKey(ctx, t.org)
		case t.kind == KindDependabotSecret:
			k, _, err = g.client.Dependabot.GetRepoPublicKey(ctx, t.owner, t.repo)
		case t.env != "":
			k, _, err = g.client.Actions.GetEnvPublicKey(ctx, int(t.repoID), url.PathEscape(t.env))
		default:
			k, _, err = g.client.Actions.GetRepoPublicKey(ctx, t.owner, t.repo)
		}
		if err != nil {
			return nil, err
		}
		raw, err := base64.StdEncoding.DecodeString(k.GetKey())
		if err != nil || len(raw) != 32 || k.GetKeyID() == "" {
			return nil, errors.New("GitHub sent a public key that is not a base64 Curve25519 key with an id")
		}
		pk := &publicKey{id: k.GetKeyID()}
		copy(pk.key[:], raw)
		return pk, nil
	})
}

// Write seals value with the destination's public key and creates or
// updates the secret.
func (g *GitHub) Write(ctx context.Context, d store.Destination, value string) error {
	c, err := g.config(d)
	if err != nil {
		return fmt.Errorf("write %s: %w", d.Key, err)
	}
	t, err := g.resolve(ctx, d.Kind, c, true)
	if err != nil {
		return fmt.Errorf("write %s: %w", d.Key, err)
	}
	keyID, err := g.put(ctx, t, value)
	if improperlyEncrypted(err) {
		// GitHub rotated the key since it was fetched: fetch it again, once.
		// Another writer may have done so already; keep its fresh key.
		g.keys.forget(t.scope, func(k *publicKey) bool { return k.id == keyID })
		g.stats.retries.Add(1)
		_, err = g.put(ctx, t, value)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", d.Key, explain(err, subject{kind: t.kind, repo: t.full(), env: t.env, org: t.org}))
	}
	g.stats.writes.Add(1)
	return nil
}

// put seals value and sends it; it returns the id of the key it used.
func (g *GitHub) put(ctx context.Context, t target, value string) (string, error) {
	k, err := g.publicKey(ctx, t)
	if err != nil {
		return "", err
	}
	sealed, err := box.SealAnonymous(nil, []byte(value), &k.key, rand.Reader)
	if err != nil {
		return k.id, fmt.Errorf("seal the value: %w", err)
	}
	enc := base64.StdEncoding.EncodeToString(sealed)
	switch {
	case t.kind == KindDependabotSecret:
		_, err = g.client.Dependabot.CreateOrUpdateRepoSecret(ctx, t.owner, t.repo, &github.DependabotEncryptedSecret{Name: t.name, KeyID: k.id, EncryptedValue: enc})
	case t.kind == KindOrganizationSecret:
		_, err = g.client.Actions.CreateOrUpdateOrgSecret(ctx, t.org, &github.EncryptedSecret{
			Name: t.name, KeyID: k.id, EncryptedValue: enc,
			Visibility: t.visibility, SelectedRepositoryIDs: t.selected,
		})
	case t.env != "":
		_, err = g.client.Actions.CreateOrUpdateEnvSecret(ctx, int(t.repoID), url.PathEscape(t.env), &github.EncryptedSecret{Name: t.name, KeyID: k.id, EncryptedValue: enc})
	default:
		_, err = g.client.Actions.CreateOrUpdateRepoSecret(ctx, t.owner, t.repo, &github.EncryptedSecret{Name: t.name, KeyID: k.id, EncryptedValue: enc})
	}
	return k.id, err
}

// Delete removes the secret the destination names, and nothing else. A
// secret, environment or repository already gone is not an error.
func (g *GitHub) Delete(ctx context.Context, d store.Destination) error {
	c, err := g.config(d)
	if err != nil {
		return fmt.Errorf("delete %s: %w", d.Key, err)
	}
	t, err := g.resolve(ctx, d.Kind, c, false)
	if err != nil {
		if status(err) == http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("delete %s: %w", d.Key, err)
	}
	switch {
	case t.kind == KindDependabotSecret:
		_, err = g.client.Dependabot.DeleteRepoSecret(ctx, t.owner, t.repo, t.name)
	case t.kind == KindOrganizationSecret:
		_, err = g.client.Actions.DeleteOrgSecret(ctx, t.org, t.name)
	case t.env != "":
		_, err = g.client.Actions.DeleteEnvSecret(ctx, int(t.repoID), url.PathEscape(t.env), t.name)
	default:
		_, err = g.client.Actions.DeleteRepoSecret(ctx, t.owner, t.repo, t.name)
	}
	if status(err) == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", d.Key, explain(err, subject{kind: t.kind, repo: t.full(), env: t.env, org: t.org}))
	}
	g.stats.writes.Add(1)
	return nil
}

// cache holds one value per key, fetched once even when many goroutines ask
// at the same time; a failed fetch is not kept.
type cache[V any] struct {
	mu    sync.Mutex
	cells map[string]*cell[V]
}

type cell[V any] struct {
	mu sync.Mutex
	ok bool
	v  V
}

func (c *cache[V]) cell(key string) *cell[V] {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cells == nil {
		c.cells = map[string]*cell[V]{}
	}
	e, ok := c.cells[key]
	if !ok {
		e = &cell[V]{}
		c.cells[key] = e
	}
	return e
}

func (c *cache[V]) get(key string, fetch func() (V, error)) (V, error) {
	e := c.cell(key)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ok {
		return e.v, nil
	}
	v, err := fetch()
	if err != nil {
		return v, err
	}
	e.v, e.ok = v, true
	return v, nil
}

// forget drops the value of key if stale says it is the one to drop.
func (c *cache[V]) forget(key string, stale func(V) bool) {
	e := c.cell(key)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ok && stale(e.v) {
		var zero V
		e.v, e.ok = zero, false
	}
}
