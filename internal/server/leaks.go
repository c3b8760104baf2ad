package server

// The leak response (issue 14, item 4) that both ways in share: GitHub's
// secret-scanning partner protocol (leaks_partner.go) and an
// organization's secret_scanning_alert webhook (leaks_webhook.go). A
// reported value that matches a version (its secret's hash, not only its
// id) has that version revoked at once, without overlap, before the answer;
// a current or pending version is then replaced by a rotation that delivers
// the new value to the token's destinations as a scheduled rotation would.
//
// Timing. GitHub wants an answer within ten seconds. The revocation is one
// store transaction and happens before the answer, and the snapshot is
// brought up to it, so the leaked value is refused from the moment the
// answer leaves. The rotation (and, for the webhook, resolving the GitHub
// alert) runs in the background, bounded by LeakOptions.RotateTimeout; the
// request waits for it up to LeakOptions.Wait (5s by default) and answers
// then whether it is done or not. The token_leaked alert is raised when the
// background work ends, saying what happened. A server stopped meanwhile
// leaves a rotation the next `tokenward rotate` resumes.

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// DetectorTokenLeaked is the detector name of the alert a leak report raises.
const DetectorTokenLeaked = "token_leaked"

// LeakOptions configures the leak endpoints, POST /v1/leaks/github (the
// partner protocol) and POST /v1/leaks/github-webhook.
type LeakOptions struct {
	// Rotate rotates a token now, delivering its new value to the token's
	// destinations, and returns the new version's fingerprint. Nil when this
	// server cannot rotate; RotateOff then says why (no master key, no
	// destination credentials, ...), and a leaked current version is only
	// revoked.
	Rotate    func(ctx context.Context, name string) (fingerprint string, err error)
	RotateOff string
	// WebhookSecret is the secret of the organization's secret_scanning_alert
	// webhook; empty turns the webhook endpoint off.
	WebhookSecret []byte
	// GitHub is the API client the webhook reads and resolves alerts with:
	// the configured API base and credentials. Nil turns the webhook off;
	// GitHubOff says why.
	GitHub    *github.Client
	GitHubOff string
	// APIURL is the GitHub API base the partner's signing keys are read
	// from (meta/public_keys/secret_scanning), https://api.github.com/ by
	// default.
	APIURL string
	// HTTPClient fetches the signing keys; a client with a 5s timeout by
	// default. It sends no credentials: the keys are public.
	HTTPClient *http.Client
	// Wait is how long a request waits for the rotations it started before
	// answering; 5s by default, so an answer leaves within GitHub's 10s.
	Wait time.Duration
	// RotateTimeout bounds the background work of one report: the rotation
	// and resolving the GitHub alert; 2 minutes by default (GitHub secret
	// writes are paced a second apart).
	RotateTimeout time.Duration
}

// WithLeakResponse turns the leak endpoints on with o. Without it, they
// answer 503 saying so.
func WithLeakResponse(o LeakOptions) Option {
	return func(s *Server) {
		l := &leaks{opts: o, sem: make(chan struct{}, maxLeakJobs)}
		if l.opts.Wait <= 0 {
			l.opts.Wait = 5 * time.Second
		}
		if l.opts.RotateTimeout <= 0 {
			l.opts.RotateTimeout = 2 * time.Minute
		}
		l.keys = newKeyCache(o.APIURL, o.HTTPClient)
		s.leaks = l
	}
}

// maxLeakJobs bounds the background responses running at once; a report
// past it has its version revoked and its rotation left to the next
// `tokenward rotate`, as the alert says.
const maxLeakJobs = 8

// leaks is the state of the leak endpoints.
type leaks struct {
	opts LeakOptions
	keys *keyCache
	sem  chan struct{}
	jobs sync.WaitGroup // background responses, for tests and shutdown
}

// leakRoutes registers the leak endpoints.
func (s *Server) leakRoutes(mux *http.ServeMux) {
	if s.leaks != nil {
		s.leaks.keys.now = s.now // the options may come in any order
	}
	mux.Handle("POST /v1/leaks/github", s.route("leaks_github", s.leakPartner))
	mux.Handle("POST /v1/leaks/github-webhook", s.route("leaks_github_webhook", s.leakWebhook))
}

// leakReport is one reported value and where it was found. value is never
// logged, stored or put in an alert.
type leakReport struct {
	value  string
	url    string // where GitHub found it
	source string // content, commit, npm, ... (the partner protocol's source)
	via    string // how the report came: "github partner", "github alert acme/app#7"
	alert  *ghAlert
}

// ghAlert is the GitHub secret-scanning alert a webhook report came from,
// resolved once the version is revoked.
type ghAlert struct {
	owner, repo string
	number      int64
}

// leakUnavailable says why the leak endpoints cannot answer; "" when they
// can.
func (s *Server) leakUnavailable() string {
	switch {
	case s.leaks == nil:
		return "the leak endpoints are off on this server"
	case s.reg == nil:
		return "this server has no registry to look reported tokens up in"
	}
	return ""
}

// respond matches a reported value against the store and, when it matches,
// revokes its version at once and starts the rest of the response in the
// background. It reports whether the value matched a version, and returns
// a channel closed when the background work is done (nil when there is
// none). An error means the store could not be read or written: the
// caller answers 5xx, so that GitHub reports again.
func (s *Server) respond(ctx context.Context, rep leakReport) (bool, <-chan struct{}, error) {
	ev := map[string]string{"reported_by": rep.via}
	if rep.url != "" {
		ev["source_url"] = redact(rep.url)
	}
	if rep.source != "" {
		ev["source"] = redact(rep.source)
	}
	l, ok, err := s.reg.MatchLeak(ctx, rep.value)
	if err != nil || !ok {
		return false, nil, err
	}
	// The version is the deduplication key's third part: two leaked
	// versions of one token are two alerts, one version reported twice is
	// one.
	a := store.Alert{Detector: DetectorTokenLeaked, Severity: store.SeverityCritical, TokenID: l.TokenID,
		TokenName: l.TokenName, Network: "version/" + l.VersionID, Evidence: ev}
	ev["version"], ev["fingerprint"], ev["state"] = l.VersionID, l.Fingerprint, string(l.State)
	switch {
	case l.Honeytoken:
		// A decoy found where someone left it is what it is for: it stays
		// in place, never valid, so every use of it keeps raising
		// honeytoken_used. The GitHub alert stays open for a person.
		ev["response"], ev["honeytoken"] = "none", "true"
		a.Detail = fmt.Sprintf("honeytoken %s (version %s) was reported leaked (%s): someone found the decoy; it stays in place and never verifies, and every use of it raises honeytoken_used",
			l.TokenName, l.Fingerprint, rep.via)
		return true, s.later(a, nil, nil), nil
	case l.Kind == store.KindCredential:
		// Revoking the version here would leave the password working at
		// the database: only a rotation retires it there.
		ev["response"] = "none"
		a.Detail = fmt.Sprintf("version %s of credential %s was reported leaked (%s); a credential is not revoked by a leak report, since only its issuer can take its password away: rotate it now with `tokenward rotate --token %s --force`",
			l.Fingerprint, l.TokenName, rep.via, l.TokenName)
		return true, s.later(a, nil, nil), nil
	case l.State == token.StateRevoked:
		ev["response"] = "none"
		a.Detail = fmt.Sprintf("version %s of token %s was reported leaked (%s); it was revoked already, nothing changed", l.Fingerprint, l.TokenName, rep.via)
		return true, s.later(a, nil, rep.alert), nil
	case !s.access.Writable:
		ev["response"] = "alert only"
		a.Detail = fmt.Sprintf("version %s of token %s was reported leaked (%s) and is still valid: this server cannot write the store (%s); cut it off now by rotating twice, `tokenward rotate --token %s --force` (the second rotation revokes the leaked value)",
			l.Fingerprint, l.TokenName, rep.via, s.access.ReadOnlyWhy, l.TokenName)
		return true, s.later(a, nil, nil), nil
	}
	if l, ok, err = s.reg.RevokeLeaked(ctx, rep.value, ev); err != nil || !ok {
		return ok, nil, err // gone between the two reads
	}
	if !l.Revoked {
		// A report of the same value, running at once, revoked it first
		// and answers for it: this one must not rotate a second time.
		ev["response"] = "none"
		a.Detail = fmt.Sprintf("version %s of token %s was reported leaked (%s); another report revoked it a moment before", l.Fingerprint, l.TokenName, rep.via)
		return true, s.later(a, nil, rep.alert), nil
	}
	s.catchUpSnapshot(ctx)
	ev["version"], ev["fingerprint"], ev["state"] = l.VersionID, l.Fingerprint, string(l.State)
	s.log.Warn("revoked a version reported leaked", "token", l.TokenName, "version", l.VersionID,
		"fingerprint", l.Fingerprint, "reported_by", rep.via)
	if l.State == token.StatePrevious {
		ev["response"] = "revoked"
		a.Detail = fmt.Sprintf("version %s of token %s was reported leaked (%s); it was the previous version and is revoked; the current version is not affected",
			l.Fingerprint, l.TokenName, rep.via)
		return true, s.later(a, nil, rep.alert), nil
	}
	if s.leaks.opts.Rotate == nil {
		ev["response"] = "revoked"
		then := fmt.Sprintf("the token has no current version until `tokenward rotate --token %s` runs", l.TokenName)
		if l.State == token.StatePending {
			then = "the current version is not affected, and the next rotation mints a new pending version"
		}
		a.Detail = fmt.Sprintf("version %s (%s) of token %s was reported leaked (%s) and is revoked, not rotated: %s; %s",
			l.Fingerprint, l.State, l.TokenName, rep.via, s.leaks.opts.RotateOff, then)
		return true, s.later(a, nil, rep.alert), nil
	}
	name := l.TokenName
	ev["response"] = "revoked"
	a.Detail = fmt.Sprintf("version %s (%s) of token %s was reported leaked (%s) and is revoked", l.Fingerprint, l.State, name, rep.via)
	rotate := func(ctx context.Context) string {
		to, err := s.leaks.opts.Rotate(ctx, name)
		if err != nil {
			ev["rotation_error"] = redact(err.Error())
			return fmt.Sprintf("%s, but the rotation failed: %s; run `tokenward rotate --token %s`", a.Detail, redact(err.Error()), name)
		}
		s.catchUpSnapshot(ctx)
		ev["response"], ev["new_fingerprint"] = "rotated", to
		return fmt.Sprintf("%s; the token is rotated to %s, delivered to its destinations", a.Detail, to)
	}
	return true, s.later(a, rotate, rep.alert), nil
}

// later runs the rest of a response in the background, bounded in time:
// the rotation when there is one (it returns the alert's detail), then
// resolving the GitHub alert, then raising the alert. It returns a channel
// closed when that is done. When too many responses run already, the
// rotation is left out and the alert says so.
func (s *Server) later(a store.Alert, rotate func(context.Context) string, gh *ghAlert) <-chan struct{} {
	done := make(chan struct{})
	select {
	case s.leaks.sem <- struct{}{}:
	default:
		if rotate != nil {
			a.Detail += fmt.Sprintf("; not rotated: %d leak responses were running already; run `tokenward rotate --token %s`", maxLeakJobs, a.TokenName)
		}
		s.raiseLeak(context.Background(), a)
		close(done)
		return done
	}
	s.leaks.jobs.Add(1)
	go func() {
		defer func() { <-s.leaks.sem; s.leaks.jobs.Done(); close(done) }()
		ctx, cancel := context.WithTimeout(context.Background(), s.leaks.opts.RotateTimeout)
		defer cancel()
		if rotate != nil {
			a.Detail = rotate(ctx)
		}
		if gh != nil {
			if err := s.resolveAlert(ctx, *gh, a); err != nil {
				a.Evidence["github_alert_error"] = redact(err.Error())
				s.log.Warn("could not resolve the GitHub secret-scanning alert", "alert", a.Evidence["reported_by"], "err", redact(err.Error()))
			} else {
				a.Evidence["github_alert"] = "resolved as revoked"
			}
		}
		s.raiseLeak(ctx, a)
	}()
	return done
}

// raiseLeak raises a token_leaked alert, or logs it when the server has no
// raiser.
func (s *Server) raiseLeak(ctx context.Context, a store.Alert) {
	a.At = s.now()
	s.log.Warn("token leaked", "token", a.TokenName, "detail", a.Detail)
	if s.alerts != nil {
		s.alerts.Raise(ctx, a)
	}
}

// waitAll waits for every channel in done, or until d has passed.
func waitAll(done []<-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for _, c := range done {
		if c == nil {
			continue
		}
		select {
		case <-c: // done already: not left to the timer's race
			continue
		default:
		}
		select {
		case <-c:
		case <-t.C:
			return false
		}
	}
	return true
}

// catchUpSnapshot brings the snapshot up to the store's change counter after a
// revocation, so that the revoked value is refused by the time the answer
// leaves; a Source that cannot within a second leaves it to its polling.
func (s *Server) catchUpSnapshot(ctx context.Context) {
	c, ok := s.src.(interface {
		CatchUp(ctx context.Context, seq int64) error
	})
	if !ok {
		return
	}
	head, err := s.reg.Store().AuditHead(ctx)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		err = c.CatchUp(ctx, head.Seq)
	}
	if err != nil {
		s.log.Warn("the snapshot did not catch up with a leak revocation; it will at the next poll", "err", err)
	}
}

// leakAnswer is one entry of the partner protocol's answer.
type leakAnswer struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// Labels of the partner protocol's answer.
const (
	labelTruePositive  = "true_positive"
	labelFalsePositive = "false_positive"
	leakTokenType      = "tokenward_token"
)
