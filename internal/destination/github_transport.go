package destination

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	backoffBase      = time.Second
	backoffCap       = 30 * time.Second
	maxRateLimitWait = 15 * time.Minute
	// secondaryWait is what GitHub asks for after a secondary rate limit
	// that names no time: "wait for at least one minute".
	secondaryWait = time.Minute
)

// githubTransport paces, times out and retries the requests of a GitHub
// writer. It sits below go-github and below the GitHub App transport, so it
// sees every raw response: go-github turns a 403 rate limit into an error
// but passes 429 through as a plain error response, and remembers a rate
// limit to refuse later requests on its own clock. Handling the status codes
// and headers here, in one small loop, keeps the behaviour in one place and
// testable with an injected clock, which a retrying HTTP library would not.
//
// Only what is safe to repeat is sent again after GitHub may have acted on
// it: reads, PUT and DELETE of secrets, PATCH of a comment's body, and the
// installation token exchange (a second token is harmless). A POST that
// creates something, such as a comment, is sent again only when GitHub
// surely did not act on it: after a rate limit, or when the connection
// could not be made. After a 5xx, a timeout or a connection lost mid-way it
// fails at once, as GitHub advises retrying idempotent requests only: a
// retried POST could create the same comment twice.
type githubTransport struct {
	base        http.RoundTripper
	pace        time.Duration
	maxAttempts int
	timeout     time.Duration
	sleep       func(context.Context, time.Duration) error
	now         func() time.Time
	stats       *githubCounters

	// paceTurn is a one-slot semaphore rather than a mutex so that a writer
	// queued behind others still gives up when its context ends.
	paceTurn  chan struct{}
	lastWrite time.Time

	// spentUntil is when the primary rate limit resets after a successful
	// response said none was left. go-github would refuse every request
	// until then without sending it, and without waiting; the transport
	// hides that header from it and waits here instead.
	spentMu    sync.Mutex
	spentUntil time.Time
}

// waitSpent waits for the rate limit to reset when an earlier response used
// it up, or fails when the reset is further away than tokenward waits.
func (t *githubTransport) waitSpent(ctx context.Context) error {
	t.spentMu.Lock()
	until := t.spentUntil
	t.spentMu.Unlock()
	d := until.Sub(t.now())
	if d <= 0 {
		return nil
	}
	if d > maxRateLimitWait {
		return &rateLimitError{until: until, in: d}
	}
	return t.sleep(ctx, d)
}

// noteSpent remembers a successful response that used up the rate limit and
// hides its reset from go-github.
func (t *githubTransport) noteSpent(resp *http.Response) {
	if resp.StatusCode >= 300 || resp.Header.Get("X-RateLimit-Remaining") != "0" {
		return
	}
	s, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil {
		return
	}
	t.spentMu.Lock()
	if at := time.Unix(s, 0); at.After(t.spentUntil) {
		t.spentUntil = at
	}
	t.spentMu.Unlock()
	resp.Header.Del("X-RateLimit-Reset")
}

// maxResponse bounds what is read of one response; GitHub's are small.
const maxResponse = 16 << 20

type githubCounters struct {
	requests, writes, keyFetches, repoLookups, retries atomic.Int64
}

// rateLimitError is a rate limit tokenward will not wait out.
type rateLimitError struct {
	until    time.Time
	in       time.Duration
	attempts int // > 0 when the attempts ran out while waiting
}

func (e *rateLimitError) Error() string {
	at := e.until.UTC().Format("15:04:05 MST")
	if e.attempts > 0 {
		return fmt.Sprintf("GitHub still rate limited the request after %d attempts; try again after %s", e.attempts, at)
	}
	return fmt.Sprintf("GitHub's rate limit resets at %s (in %s), more than the %s tokenward waits; try again after then",
		at, e.in.Round(time.Second), maxRateLimitWait)
}

// timeoutError is a request GitHub never answered in time.
type timeoutError struct {
	attempts int
	timeout  time.Duration
	err      error
}

func (e *timeoutError) Error() string {
	if e.attempts == 1 {
		return fmt.Sprintf("GitHub did not answer within %s: %v", e.timeout, e.err)
	}
	return fmt.Sprintf("GitHub did not answer within %s, %d times: %v", e.timeout, e.attempts, e.err)
}

func (e *timeoutError) Unwrap() error { return e.err }

// RoundTrip sends req, retrying what is worth retrying.
func (t *githubTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if req.Body != nil {
		defer req.Body.Close()
	}
	// A body that cannot be read again can be sent once only.
	maxAttempts := t.maxAttempts
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		maxAttempts = 1
	}
	write, idempotent := classify(req)
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			t.stats.retries.Add(1)
		}
		if err := t.waitSpent(ctx); err != nil {
			return nil, err
		}
		var resp *http.Response
		var timedOut bool
		var err error
		if write {
			// GitHub asks integrations to make mutating requests serially,
			// or it answers with secondary rate limits: one write at a time.
			release, werr := t.writeTurn(ctx)
			if werr != nil {
				return nil, werr
			}
			resp, timedOut, err = t.once(req)
			release()
		} else {
			resp, timedOut, err = t.once(req)
		}
		last := attempt >= maxAttempts
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if !timedOut && !transient(err) {
				return nil, err
			}
			if last || (!idempotent && !unsent(err)) {
				if timedOut {
					return nil, &timeoutError{attempts: attempt, timeout: t.timeout, err: err}
				}
				return nil, err
			}
			wait = backoff(attempt)
		case resp.StatusCode >= 500:
			if last || !idempotent {
				return resp, nil
			}
			wait = backoff(attempt)
			// GitHub sometimes says when to come back after a 503.
			if d, _, limited := t.retryAfter(resp); limited && d <= maxRateLimitWait {
				wait = d
			}
		case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests:
			d, until, limited := t.rateLimit(resp)
			switch {
			case limited && d > maxRateLimitWait:
				return nil, &rateLimitError{until: until, in: d}
			case limited && last:
				return nil, &rateLimitError{until: until, attempts: attempt}
			case limited:
				wait = d
			case resp.StatusCode == http.StatusTooManyRequests && !last:
				wait = backoff(attempt)
			default:
				return resp, nil
			}
		default:
			t.noteSpent(resp)
			return resp, nil
		}
		if err := t.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// classify says whether req is a write, which GitHub asks integrations to
// send one at a time and a second apart, and whether it is idempotent, safe
// to send again when GitHub may have acted on it already.
func classify(req *http.Request) (write, idempotent bool) {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false, true
	case http.MethodPost:
		if strings.Contains(req.URL.Path, "/app/installations/") && strings.HasSuffix(req.URL.Path, "/access_tokens") {
			return false, true // the installation token exchange
		}
		return true, false
	}
	return true, true // PUT, PATCH and DELETE set or remove what they name
}

// unsent reports whether a transport error happened before the request
// reached GitHub: the connection could not be made.
func unsent(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return (errors.As(err, &op) && op.Op == "dial") || errors.As(err, &dns)
}

// once sends one attempt with its own deadline and reads the whole response,
// so that a response that stalls halfway is a timeout too.
func (t *githubTransport) once(req *http.Request) (resp *http.Response, timedOut bool, err error) {
	t.stats.requests.Add(1)
	actx, cancel := context.WithTimeout(req.Context(), t.timeout)
	defer cancel()
	r := req.Clone(actx)
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		if r.Body, err = req.GetBody(); err != nil {
			return nil, false, err
		}
	}
	resp, err = t.base.RoundTrip(r)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	if err != nil {
		return nil, errors.Is(actx.Err(), context.DeadlineExceeded) && req.Context().Err() == nil, err
	}
	return resp, false, nil
}

// writeTurn takes the one write turn, waits until at least pace has passed
// since the previous write began, and returns the function that gives the
// turn back. Parallel writers queue on the turn; one whose context ends
// while queued gives up.
func (t *githubTransport) writeTurn(ctx context.Context) (release func(), err error) {
	select {
	case t.paceTurn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	release = func() { <-t.paceTurn }
	if t.pace > 0 && !t.lastWrite.IsZero() {
		if d := t.lastWrite.Add(t.pace).Sub(t.now()); d > 0 {
			if err := t.sleep(ctx, d); err != nil {
				release()
				return nil, err
			}
		}
	}
	t.lastWrite = t.now()
	return release, nil
}

// rateLimit reports how long a 403 or 429 asks to wait, and until when;
// limited is false when the response is not about a rate limit.
func (t *githubTransport) rateLimit(resp *http.Response) (d time.Duration, until time.Time, limited bool) {
	now := t.now()
	if d, until, ok := t.retryAfter(resp); ok {
		return d, until, true
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if s, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			at := time.Unix(s, 0)
			return max(at.Sub(now), 0), at, true
		}
	}
	if b, err := io.ReadAll(resp.Body); err == nil {
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if bytes.Contains(bytes.ToLower(b), []byte("secondary rate limit")) {
			return secondaryWait, now.Add(secondaryWait), true
		}
	}
	return 0, time.Time{}, false
}

// retryAfter reads the Retry-After header: seconds or an HTTP date.
func (t *githubTransport) retryAfter(resp *http.Response) (d time.Duration, until time.Time, ok bool) {
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, time.Time{}, false
	}
	now := t.now()
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, now.Add(time.Duration(s) * time.Second), true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), at, true
	}
	return 0, time.Time{}, false
}

// backoff is the wait before attempt+1: exponential from backoffBase, capped
// at backoffCap, with "equal jitter" (between half and all of it) so that
// parallel writers do not retry in step.
func backoff(attempt int) time.Duration {
	d := backoffCap
	if attempt < 6 {
		d = min(backoffBase<<(attempt-1), backoffCap)
	}
	return d/2 + rand.N(d/2+1)
}

// transient reports whether a transport error is worth another attempt.
func transient(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED)
}

// sleepContext waits for d or until ctx is done.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
