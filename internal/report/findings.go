package report

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tokenward/terraform-provider-tokenward/internal/audit"
	"github.com/tokenward/terraform-provider-tokenward/internal/destination"
	"github.com/tokenward/terraform-provider-tokenward/internal/detect"
	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/policy"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/review"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
	"github.com/tokenward/terraform-provider-tokenward/internal/token"
)

// Each function here is one section of the report: the findings of one
// kind of trouble, computed from the snapshot alone, in a stable order.

const dateFormat = "2006-01-02"

func date(t time.Time) string { return t.UTC().Format(dateFormat) }

// quoted renders scopes as a Terraform list: ["a", "b"].
func quoted(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// maxListed is how many names a list in a finding shows: a token asked
// for thousands of scopes must not make its finding that long.
const maxListed = 10

// ticked renders up to maxListed names as code spans, and how many more
// there are.
func ticked(xs []string) string {
	n := min(len(xs), maxListed)
	q := make([]string, n)
	for i, x := range xs[:n] {
		q[i] = code(x)
	}
	out := strings.Join(q, ", ")
	if len(xs) > n {
		out += fmt.Sprintf(" and %d more", len(xs)-n)
	}
	return out
}

// code renders a name or value from the store: user ids and the scopes
// verifications required come from API clients, and none may write the
// report's Markdown or HTML (see review.Code).
func code(s string) string { return review.Code(s) }

// plainArg is an argument the shell reads as it is.
var plainArg = regexp.MustCompile(`^[A-Za-z0-9_.@:=-]+$`)

// command renders a command line to copy, each argument quoted for the
// shell unless it is plain, as one code span.
func command(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellArg(a)
	}
	return review.Command(strings.Join(q, " "))
}

// shellArg quotes a for a POSIX shell: in single quotes nothing is
// expanded, and a quote is closed, escaped and reopened.
func shellArg(a string) string {
	if plainArg.MatchString(a) {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// scopesFix says how to set a token's or role's scopes to keep: the list
// itself when it is short, else the scopes to take out of it.
func scopesFix(keep, drop []string) string {
	if len(keep) <= maxListed {
		return review.Command("scopes = " + quoted(keep))
	}
	return "`scopes` without " + ticked(drop)
}

// ago says how long before now t was, in whole days.
func ago(now, t time.Time) string {
	d := int(now.Sub(t) / (24 * time.Hour))
	if d == 1 {
		return "1 day ago"
	}
	return fmt.Sprintf("%d days ago", d)
}

func removeFix(ti registry.TokenInfo) string {
	fix := fmt.Sprintf("remove the `tokenward_token` whose name is %s from the Terraform configuration, or record why it stays in its description", code(ti.Name))
	if ti.Owner != "" {
		fix += fmt.Sprintf(" (owner: %s)", code(ti.Owner))
	}
	return fix
}

// unusedTokens: tokens never used, and tokens not used for UnusedAfter.
func unusedTokens(s *snapshot, opts Options) []Finding {
	var out []Finding
	window := duration.Format(opts.UnusedAfter)
	for _, ti := range s.tokens {
		if !usageApplies(ti) {
			continue
		}
		// Used means verified: a token whose verifications all failed
		// serves nobody, and is not unused either.
		u := s.usage[ti.ID]
		if u != nil && u.uses > u.failures {
			continue
		}
		if u != nil && u.uses > 0 {
			out = append(out, Finding{Level: review.Warn, Kind: KindVerificationsFailed, Token: ti.Name,
				Detail: fmt.Sprintf("%s had %d verifications in the window (since %s), all failed: its consumers present a value that does not verify", code(ti.Name), u.uses, date(s.since)),
				Fix: fmt.Sprintf("find what its consumers present (%s) and give them its current value: a rotation they missed, or a destination not delivered; if nobody needs it, %s",
					command("tokenward", "usage", "--token", ti.Name), removeFix(ti))})
			continue
		}
		last, ok := s.lastUsed[ti.ID]
		switch {
		case !ok && ti.CreatedAt.Before(s.now.Add(-opts.UnusedAfter)):
			out = append(out, Finding{Level: review.Warn, Kind: KindNeverUsed, Token: ti.Name,
				Detail: fmt.Sprintf("%s was created on %s and has never been used", code(ti.Name), date(ti.CreatedAt)), Fix: removeFix(ti)})
		case !ok:
			out = append(out, Finding{Level: review.Info, Kind: KindNeverUsed, Token: ti.Name,
				Detail: fmt.Sprintf("%s was created on %s, less than %s ago, and has not been used yet", code(ti.Name), date(ti.CreatedAt), window),
				Fix:    "none yet; if it is still unused after " + window + ", " + removeFix(ti)})
		case last.Before(s.now.Add(-opts.UnusedAfter)):
			out = append(out, Finding{Level: review.Warn, Kind: KindUnused, Token: ti.Name,
				Detail: fmt.Sprintf("%s was last used on %s (%s), more than %s ago", code(ti.Name), date(last), ago(s.now, last), window), Fix: removeFix(ti)})
		}
	}
	return out
}

// grant is where a token's scope comes from: its own scopes, and the roles
// that grant it.
type grant struct {
	own   bool
	roles []string
}

// unusedScopes: per token used in the window, the granted scopes no
// verification required.
func unusedScopes(s *snapshot, opts Options) []Finding {
	holders := map[string][]string{} // role → tokens that hold it
	for _, ti := range s.tokens {
		for _, r := range ti.Roles {
			holders[r] = append(holders[r], ti.Name)
		}
	}
	var out []Finding
	for _, ti := range s.tokens {
		u := s.usage[ti.ID]
		if !usageApplies(ti) || u == nil || u.uses <= u.failures {
			continue // not verified: no scope was ever required (see unusedTokens)
		}
		grants := map[string]*grant{}
		for _, sc := range ti.Scopes {
			grants[sc] = &grant{own: true}
		}
		for _, r := range ti.Roles {
			for _, sc := range s.roles[r] {
				if grants[sc] == nil {
					grants[sc] = &grant{}
				}
				grants[sc].roles = append(grants[sc].roles, r)
			}
		}
		var used []string
		for sc, n := range u.scopes {
			if n > 0 {
				used = append(used, sc)
			}
		}
		sort.Strings(used)
		held := make([]string, 0, len(grants))
		for sc := range grants {
			held = append(held, sc)
		}
		sort.Strings(held)
		var unusedOwn []string
		type unused struct {
			scope  string
			narrow []string // a wildcard's actions that were required
		}
		var found []unused
		for _, sc := range held {
			var covered []string
			for _, r := range used {
				if token.Grants([]string{sc}, r) {
					covered = append(covered, r)
				}
			}
			switch {
			case len(covered) == 0:
				found = append(found, unused{scope: sc})
				if grants[sc].own {
					unusedOwn = append(unusedOwn, sc)
				}
			case strings.HasSuffix(sc, ":*") && !slices.Contains(covered, sc):
				found = append(found, unused{scope: sc, narrow: covered})
			}
		}
		if len(found) == 0 {
			continue
		}
		from := s.since
		if c := day(ti.CreatedAt); c.After(from) {
			from = c
		}
		asked := "it was asked for no scope"
		if len(used) > 0 {
			asked = "it was asked only for " + ticked(used)
		}
		span := fmt.Sprintf("in the %d days since %s", int(day(s.now).Sub(from)/(24*time.Hour))+1, date(from))
		keep := slices.DeleteFunc(slices.Clone(ti.Scopes), func(sc string) bool { return slices.Contains(unusedOwn, sc) })
		for _, f := range found {
			g := grants[f.scope]
			if f.narrow != nil {
				out = append(out, Finding{Level: review.Info, Kind: KindWildcardNarrower, Token: ti.Name, Scope: f.scope,
					Detail: fmt.Sprintf("%s holds %s; %s it required only %s of it", code(ti.Name), code(f.scope), span, ticked(f.narrow)),
					Fix:    fmt.Sprintf("grant %s instead of %s%s", ticked(f.narrow), code(f.scope), via(g, ti.Name, holders))})
				continue
			}
			level := review.Warn
			what := ""
			if s.privileged[f.scope] {
				level, what = review.High, " (a privileged scope)"
			}
			d := fmt.Sprintf("%s holds %s; %s %s: %s%s was never required", code(ti.Name), ticked(held), span, asked, code(f.scope), what)
			var fix []string
			if g.own {
				fix = append(fix, fmt.Sprintf("set %s on the `tokenward_token` whose name is %s", scopesFix(keep, unusedOwn), code(ti.Name)))
			}
			for _, r := range g.roles {
				others := slices.DeleteFunc(slices.Clone(holders[r]), func(n string) bool { return n == ti.Name })
				rest := slices.DeleteFunc(slices.Clone(s.roles[r]), func(sc string) bool { return sc == f.scope })
				line := fmt.Sprintf("it comes through role %s: remove it from the `tokenward_role` %s (%s)", code(r), code(r), scopesFix(rest, []string{f.scope}))
				if len(others) > 0 {
					line += fmt.Sprintf(", which takes it from the role's other holders too (%s), or drop the role from this token and grant the scopes it uses directly", some(others))
				}
				fix = append(fix, line)
			}
			out = append(out, Finding{Level: level, Kind: KindUnusedScope, Token: ti.Name, Scope: f.scope, Detail: d, Fix: strings.Join(fix, "; ")})
		}
	}
	return out
}

// via says where a wildcard comes from, for its fix.
func via(g *grant, name string, holders map[string][]string) string {
	if g.own {
		return fmt.Sprintf(" in the `scopes` of the `tokenward_token` whose name is %s", code(name))
	}
	return fmt.Sprintf(" in the `tokenward_role` %s (held by %s)", code(g.roles[0]), some(holders[g.roles[0]]))
}

// some lists up to five names, and how many more there are: a role held
// by thousands of tokens must not make every finding about it that long.
func some(names []string) string {
	if len(names) <= 5 {
		return ticked(names)
	}
	return fmt.Sprintf("%s and %d others", ticked(names[:5]), len(names)-5)
}

// policyToken is what the policy checks of a stored token, as the
// provider builds it from a plan: privileged names the privileged scopes,
// so that max_privileged_scopes and require_owner_for_privileged apply.
func policyToken(ti registry.TokenInfo, roles map[string][]string, privileged []string) policy.Token {
	t := policy.Token{Name: ti.Name, Owner: ti.Owner, Scopes: ti.Scopes, Roles: map[string][]string{},
		TTL: ti.Lifetime.TTL, RotateBefore: ti.Lifetime.RotateBefore, Overlap: ti.Lifetime.Overlap, Honeytoken: ti.Honeytoken}
	for _, r := range ti.Roles {
		t.Roles[r] = roles[r]
	}
	t.Privileged = policy.PrivilegedHeld(privileged, t.Scopes, t.Roles)
	for _, d := range ti.Destinations {
		c, err := destination.Decode(d)
		if err != nil {
			continue
		}
		t.Destinations = append(t.Destinations, policy.Destination{Path: "destination " + d.Key, Kind: d.Kind, Config: c})
	}
	return t
}

// policyFindings: tokens the current policy refuses.
func policyFindings(s *snapshot, opts Options) []Finding {
	if opts.Policy.Empty() {
		return nil
	}
	privileged := make([]string, 0, len(s.privileged))
	for sc, p := range s.privileged {
		if p {
			privileged = append(privileged, sc)
		}
	}
	sort.Strings(privileged)
	var out []Finding
	for _, ti := range s.tokens {
		for _, v := range opts.Policy.CheckToken(policyToken(ti, s.roles, privileged)) {
			out = append(out, Finding{Level: review.High, Kind: KindPolicyViolation, Token: ti.Name,
				Detail: fmt.Sprintf("%s breaks the policy: %s", code(ti.Name), v.String()),
				Fix:    fmt.Sprintf("change %s of the `tokenward_token` whose name is %s to meet the policy, or change the policy if it is what should change", v.Field, code(ti.Name))})
		}
	}
	return out
}

const rotateFix = "run %s (the scheduled rotate workflow should have: read its last run's log)"

func rotateCommand(name string) string { return command("tokenward", "rotate", "--token", name) }

// rotationFindings: rotations overdue or unfinished, current versions
// expired, and destinations whose last delivery failed.
func rotationFindings(s *snapshot, _ Options) []Finding {
	var out []Finding
	for _, ti := range s.tokens {
		if ti.Honeytoken {
			continue // a decoy is rotated only when asked, and its values never verify
		}
		fix := fmt.Sprintf(rotateFix, rotateCommand(ti.Name))
		switch {
		case ti.Current == nil && ti.Pending == nil:
			out = append(out, Finding{Level: review.Warn, Kind: KindNoCurrentVersion, Token: ti.Name,
				Detail: fmt.Sprintf("%s has no live version: its consumers hold no value that verifies", code(ti.Name)), Fix: fix})
		case ti.Current != nil && !ti.Current.ExpiresAt.After(s.now):
			out = append(out, Finding{Level: review.High, Kind: KindVersionExpired, Token: ti.Name,
				Detail: fmt.Sprintf("the current version of %s expired on %s (%s): its consumers' value no longer verifies", code(ti.Name), date(ti.Current.ExpiresAt), ago(s.now, ti.Current.ExpiresAt)), Fix: fix})
		case ti.Current != nil && !ti.NextRotationAt().After(s.now):
			out = append(out, Finding{Level: review.Warn, Kind: KindRotationOverdue, Token: ti.Name,
				Detail: fmt.Sprintf("%s has been due for rotation since %s; its current version expires on %s", code(ti.Name), date(ti.NextRotationAt()), date(ti.Current.ExpiresAt)), Fix: fix})
		}
		if ti.Pending != nil {
			out = append(out, Finding{Level: review.Warn, Kind: KindRotationUnfinished, Token: ti.Name,
				Detail: fmt.Sprintf("a rotation of %s began on %s and has not finished: its new version is still pending", code(ti.Name), date(ti.Pending.CreatedAt)),
				Fix:    fmt.Sprintf("run %s to resume it; if it fails again, its error says which destination refused the new value", rotateCommand(ti.Name))})
		}
		out = append(out, deliveryFindings(s, ti)...)
	}
	return out
}

// deliveryFindings: the destinations of ti whose last delivery of the
// pending or current version failed.
func deliveryFindings(s *snapshot, ti registry.TokenInfo) []Finding {
	var out []Finding
	for _, v := range []*store.Version{ti.Pending, ti.Current} {
		if v == nil {
			continue
		}
		last := map[string]store.Delivery{}
		for _, d := range s.deliveries[v.ID] {
			last[d.Destination] = d // oldest first: the last one wins
		}
		for _, dest := range ti.Destinations {
			d, ok := last[dest.Key]
			if !ok || d.Outcome != audit.Failure {
				continue
			}
			detail := fmt.Sprintf("the last delivery of the %s version of %s to %s failed on %s", v.State, code(ti.Name), code(dest.Key), date(d.At))
			if d.Detail != "" {
				detail += ": " + code(clip(d.Detail, 200))
			}
			out = append(out, Finding{Level: review.High, Kind: KindDeliveryFailed, Token: ti.Name, Detail: detail,
				Fix: fmt.Sprintf("fix the destination's access (the error says what it refused), then run %s", rotateCommand(ti.Name))})
		}
	}
	return out
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// valueFindings: user values that no longer hold, and the sensitive ones
// left unchecked for want of the master key.
func valueFindings(s *snapshot, _ Options) []Finding {
	var out []Finding
	for _, p := range s.values.Problems {
		if p.Orphan {
			out = append(out, Finding{Level: review.Warn, Kind: KindOrphanUserValue, User: p.User,
				Detail: fmt.Sprintf("user %s holds a value of %s, which no setting declares any more", code(p.User), code(p.Key)),
				Fix: fmt.Sprintf("remove it (%s), or declare the `tokenward_setting` %s again",
					command("tokenward", "config", "unset", "--user", p.User, p.Key), code(p.Key))})
			continue
		}
		out = append(out, Finding{Level: review.Warn, Kind: KindInvalidUserValue, User: p.User,
			Detail: fmt.Sprintf("the value user %s holds for %s no longer passes the setting: %s; the user gets the default instead", code(p.User), code(p.Key), p.Reason),
			Fix: fmt.Sprintf("set a valid value (%s, or the `tokenward_user_config` of user %s when Terraform manages it), unset it, or relax the setting's constraints",
				command("tokenward", "config", "set", "--user", p.User, p.Key+"=..."), code(p.User))})
	}
	if len(s.values.Unchecked) > 0 {
		keys := make([]string, 0, len(s.values.Unchecked))
		n := 0
		for k, c := range s.values.Unchecked {
			keys = append(keys, k)
			n += c
		}
		sort.Strings(keys)
		out = append(out, Finding{Level: review.Info, Kind: KindSensitiveUnchecked,
			Detail: fmt.Sprintf("%d sensitive values of %s were not checked: they are sealed and no master key was given", n, ticked(keys)),
			Fix:    "run the report with the master key (`--master-key-file`, or TOKENWARD_MASTER_KEY) to check them too"})
	}
	return out
}

// alertFindings: versions past expiry or revoked still presented in the
// window, then the open alerts by detector.
func alertFindings(s *snapshot, _ Options) []Finding {
	type group struct {
		n             int
		first, latest time.Time
		tokens        map[string]bool
		codes         map[string]bool // the verification codes the alerts saw
		level         review.Level
	}
	presented := map[[2]string]*group{} // detector, token
	open := map[string]*group{}         // detector
	for _, a := range s.alerts {
		at := a.At.UTC()
		if (a.Detector == detect.ExpiredVersionUsed || a.Detector == detect.RevokedVersionUsed) && !at.Before(s.since) {
			g := presented[[2]string{a.Detector, a.TokenName}]
			if g == nil {
				g = &group{first: at, codes: map[string]bool{}}
				presented[[2]string{a.Detector, a.TokenName}] = g
			}
			if c := a.Evidence["code"]; c != "" {
				g.codes[c] = true
			}
			g.n++
			g.first, g.latest = minTime(g.first, at), maxTime(g.latest, at)
			continue
		}
		if a.AckedBy != "" || a.Detector == detect.ExpiredVersionUsed || a.Detector == detect.RevokedVersionUsed {
			continue
		}
		g := open[a.Detector]
		if g == nil {
			g = &group{first: at, tokens: map[string]bool{}}
			open[a.Detector] = g
		}
		g.n++
		g.first, g.latest = minTime(g.first, at), maxTime(g.latest, at)
		if a.TokenName != "" {
			g.tokens[a.TokenName] = true
		}
		g.level = max(g.level, severity(a.Severity))
	}
	var out []Finding
	keys := make([][2]string, 0, len(presented))
	for k := range presented {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		g := presented[k]
		kind, what := KindExpiredVersionUsed, "an expired version"
		if k[0] == detect.RevokedVersionUsed {
			kind, what = KindRevokedVersionUsed, "a revoked version"
		}
		// A previous version past its overlap answers expired, though
		// its alert is revoked_version_used: the usage log is searched by
		// the codes the verifications answered.
		codes := make([]string, 0, len(g.codes))
		for c := range g.codes {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		if len(codes) == 0 {
			codes = []string{strings.TrimSuffix(k[0], "_version_used")}
		}
		search := make([]string, min(len(codes), maxListed))
		for i, c := range codes[:len(search)] {
			search[i] = command("tokenward", "usage", "--token", k[1], "--code", c)
		}
		out = append(out, Finding{Level: review.High, Kind: kind, Token: k[1],
			Detail: fmt.Sprintf("%s of %s was still presented: %d alerts from %s to %s", what, code(k[1]), g.n, date(g.first), date(g.latest)),
			Fix: fmt.Sprintf("find the consumer that holds the old value (%s) and give it the current one; check the destination it reads",
				strings.Join(search, ", "))})
	}
	detectors := make([]string, 0, len(open))
	for d := range open {
		detectors = append(detectors, d)
	}
	sort.Strings(detectors)
	for _, d := range detectors {
		g := open[d]
		tokens := make([]string, 0, len(g.tokens))
		for t := range g.tokens {
			tokens = append(tokens, t)
		}
		sort.Strings(tokens)
		detail := fmt.Sprintf("%d open %s alerts, raised from %s to %s", g.n, d, date(g.first), date(g.latest))
		if len(tokens) > 0 {
			detail += ", on " + some(tokens)
		}
		level := max(g.level, review.Info)
		out = append(out, Finding{Level: level, Kind: KindOpenAlerts, Detail: detail,
			Fix: "review them with `tokenward alerts`, and acknowledge each one handled with `tokenward alerts ack ID`"})
	}
	return out
}

// severity maps an alert's severity to a finding's level.
func severity(s string) review.Level {
	switch s {
	case store.SeverityHigh, store.SeverityCritical:
		return review.High
	case store.SeverityWarn:
		return review.Warn
	}
	return review.Info
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// auditFindings: a broken chain, or a chain no checkpoint signs.
func auditFindings(s *snapshot, _ Options) []Finding {
	a := s.audit
	switch {
	case !a.Intact:
		return []Finding{{Level: review.High, Kind: KindAuditChainBroken, Detail: "the audit chain is broken: " + a.Problem,
			Fix: "run `tokenward audit verify` and investigate the event it names: someone changed the store around tokenward"}}
	case a.Latest == nil && a.HeadSeq > 0:
		return []Finding{{Level: review.Info, Kind: KindAuditNoCheckpoint, Detail: fmt.Sprintf("no signed checkpoint covers the audit chain's %d events", a.HeadSeq),
			Fix: "run a tokenward command with the master key (such as `tokenward rotate`), which signs the chain's head"}}
	}
	return nil
}
