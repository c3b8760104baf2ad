package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tokenward/terraform-provider-tokenward/internal/duration"
	"github.com/tokenward/terraform-provider-tokenward/internal/registry"
	"github.com/tokenward/terraform-provider-tokenward/internal/store"
)

// tokenward usage: who used which token, from where, streamed from the
// store's usage log in constant memory (10 million events print as well
// as ten); and tokenward usage maintain, the schedule's job that creates
// the partitions ahead and applies retention.

// Defaults of the usage commands.
const (
	defaultUsageSince     = 24 * time.Hour
	defaultUsageRetention = 90 * duration.Day
	defaultUsageAhead     = 7 * duration.Day
	// usageFlushRows is how many table rows are aligned together: the
	// table is written in blocks, so its memory stays bounded.
	usageFlushRows = 500
)

// usageCommand dispatches tokenward usage and tokenward usage maintain.
func (c *cli) usageCommand(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == "maintain" {
		return c.usageMaintain(ctx, args[1:])
	}
	return c.usageList(ctx, args)
}

// usageEventOutput is one event of usage --format json: exactly these
// fields, never a fingerprint or anything from a header beyond the user
// agent.
type usageEventOutput struct {
	Time           string   `json:"time"`
	Token          string   `json:"token"`
	Version        string   `json:"version"`
	Code           string   `json:"code"`
	SourceIP       string   `json:"source_ip"`
	UserAgent      string   `json:"user_agent"`
	Endpoint       string   `json:"endpoint"`
	Method         string   `json:"method"`
	Path           string   `json:"path"`
	ScopesRequired []string `json:"scopes_required"`
	Caller         string   `json:"caller"`
}

// usageSummaryOutput is one token of usage --summary --format json.
type usageSummaryOutput struct {
	Token      string  `json:"token"`
	Uses       int64   `json:"uses"`
	Failures   int64   `json:"failures"`
	Networks   int     `json:"networks"`
	LastUsedAt *string `json:"last_used_at"`
	LastUsedIP string  `json:"last_used_ip"`
}

var usageCode = regexp.MustCompile(`^[a-z][a-z_]{0,63}$`)

func (c *cli) usageList(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("usage")
	name := fs.String("token", "", "only the events of the token NAME")
	since := spanFlag(fs, "since", defaultUsageSince, "only events newer than this, such as 24h, 7d or 90d (0: all)")
	ipFlag := fs.String("ip", "", "only events from this network (CIDR, such as 192.0.2.0/24) or address")
	code := fs.String("code", "", "only events with this outcome code, such as valid, revoked, not_found or insufficient_scope")
	format := fs.String("format", "table", "output format: table, json or csv")
	summary := fs.Bool("summary", false, "one row per token: uses, failures, distinct /24 or /48 networks, last use and its address")
	limit := intFlag(fs, "limit", 0, 0, "at most this many events, newest first (0: all)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	q := store.UsageQuery{TokenName: *name, Limit: *limit}
	switch *format {
	case "table", "json", "csv":
	default:
		return c.fail(exitUsage, "usage: --format is %q: write table, json or csv", clean(*format))
	}
	if *ipFlag != "" {
		p, err := parseNetwork(*ipFlag)
		if err != nil {
			return c.fail(exitUsage, "usage: --ip: %v", err)
		}
		q.Network = p
	}
	if *code != "" {
		if !usageCode.MatchString(*code) {
			return c.fail(exitUsage, "usage: --code is %q: write an outcome code in lower case, such as valid, revoked or not_found", clean(*code))
		}
		q.Code = *code
	}
	now, err := registry.ClockFromEnv(c.getenv)
	if err != nil {
		return c.fail(exitUsage, "usage: %v", err)
	}
	if *since > 0 {
		q.Since = now().Add(-*since)
	}
	ur, err := registry.OpenUsageReader(ctx, c.config(sf))
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	defer ur.Close()
	if *summary {
		rows, err := ur.UsageSummary(ctx, q)
		if err != nil {
			return c.fail(exitTrouble, "usage: %v", err)
		}
		return c.printUsageSummary(rows, *format)
	}
	w := newUsageWriter(c.stdout, *format)
	err = ur.EachUsage(ctx, q, w.event)
	if cerr := w.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return c.fail(exitTrouble, "usage: %v", err)
	}
	return exitOK
}

// parseNetwork reads --ip: a CIDR, or one address.
func parseNetwork(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is not a network: write a CIDR such as 192.0.2.0/24 or 2001:db8::/48, or one address", clean(s))
}

// usageWriter streams events in one format.
type usageWriter struct {
	format string
	out    io.Writer
	tw     *tabwriter.Writer
	cw     *csv.Writer
	enc    *json.Encoder // into buf, one event at a time
	buf    bytes.Buffer
	n      int
	err    error
}

var usageColumns = []string{"TIME", "TOKEN", "VERSION", "CODE", "SOURCE_IP", "ENDPOINT", "METHOD", "PATH", "SCOPES", "CALLER", "USER_AGENT"}

func newUsageWriter(out io.Writer, format string) *usageWriter {
	w := &usageWriter{format: format, out: out}
	switch format {
	case "table":
		w.tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w.tw, strings.Join(usageColumns, "\t"))
	case "csv":
		w.cw = csv.NewWriter(out)
		header := make([]string, len(usageColumns))
		for i, h := range usageColumns {
			header[i] = strings.ToLower(h)
		}
		header[2], header[8] = "version", "scopes_required"
		w.err = w.cw.Write(header)
	case "json":
		w.enc = json.NewEncoder(&w.buf)
		w.enc.SetEscapeHTML(false)
		_, w.err = io.WriteString(out, "[")
	}
	return w
}

func (w *usageWriter) event(e store.UsageEvent) error {
	if w.err != nil {
		return w.err
	}
	at := e.At.UTC().Format(time.RFC3339Nano)
	switch w.format {
	case "json":
		scopes := e.ScopesRequired
		if scopes == nil {
			scopes = []string{}
		}
		w.buf.Reset()
		if w.err = w.enc.Encode(usageEventOutput{Time: at, Token: e.TokenName, Version: e.VersionID, Code: e.Code, SourceIP: e.SourceIP,
			UserAgent: e.UserAgent, Endpoint: e.Endpoint, Method: e.Method, Path: e.Path, ScopesRequired: scopes, Caller: e.Caller}); w.err != nil {
			return w.err
		}
		sep := "\n  "
		if w.n > 0 {
			sep = ",\n  "
		}
		if _, w.err = io.WriteString(w.out, sep); w.err == nil {
			_, w.err = w.out.Write(terminalSafeJSON(bytes.TrimSuffix(w.buf.Bytes(), []byte("\n"))))
		}
	case "csv":
		row := []string{at, e.TokenName, e.VersionID, e.Code, e.SourceIP, e.Endpoint, e.Method, e.Path, strings.Join(e.ScopesRequired, " "), e.Caller, e.UserAgent}
		for i := range row {
			row[i] = csvCell(row[i])
		}
		w.err = w.cw.Write(row)
	case "table":
		row := []string{e.At.UTC().Format(time.RFC3339), e.TokenName, e.VersionID, e.Code, e.SourceIP, e.Endpoint, e.Method, e.Path,
			strings.Join(e.ScopesRequired, ","), e.Caller, e.UserAgent}
		for i := range row {
			row[i] = tableCell(row[i])
		}
		_, w.err = fmt.Fprintln(w.tw, strings.Join(row, "\t"))
		if w.err == nil && (w.n+1)%usageFlushRows == 0 {
			w.err = w.tw.Flush()
		}
	}
	w.n++
	return w.err
}

func (w *usageWriter) close() error {
	if w.err != nil {
		return w.err
	}
	switch w.format {
	case "json":
		end := "\n]\n"
		if w.n == 0 {
			end = "]\n"
		}
		_, w.err = io.WriteString(w.out, end)
	case "csv":
		w.cw.Flush()
		w.err = w.cw.Error()
	case "table":
		w.err = w.tw.Flush()
	}
	return w.err
}

func (c *cli) printUsageSummary(rows []store.UsageSummary, format string) int {
	switch format {
	case "json":
		out := make([]usageSummaryOutput, 0, len(rows))
		for _, r := range rows {
			o := usageSummaryOutput{Token: r.TokenName, Uses: r.Uses, Failures: r.Failures, Networks: r.Networks, LastUsedIP: r.LastUsedIP}
			if !r.LastUsedAt.IsZero() {
				s := r.LastUsedAt.UTC().Format(time.RFC3339Nano)
				o.LastUsedAt = &s
			}
			out = append(out, o)
		}
		return c.printJSON(out)
	case "csv":
		cw := csv.NewWriter(c.stdout)
		_ = cw.Write([]string{"token", "uses", "failures", "networks", "last_used_at", "last_used_ip"})
		for _, r := range rows {
			_ = cw.Write([]string{csvCell(r.TokenName), strconv.FormatInt(r.Uses, 10), strconv.FormatInt(r.Failures, 10),
				strconv.Itoa(r.Networks), r.LastUsedAt.UTC().Format(time.RFC3339Nano), csvCell(r.LastUsedIP)})
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return c.fail(exitTrouble, "write result: %v", err)
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOKEN\tUSES\tFAILURES\tNETWORKS\tLAST_USED_AT\tLAST_USED_IP")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", tableCell(r.TokenName), r.Uses, r.Failures, r.Networks,
			r.LastUsedAt.UTC().Format(time.RFC3339), tableCell(r.LastUsedIP))
	}
	if err := tw.Flush(); err != nil {
		return c.fail(exitTrouble, "write result: %v", err)
	}
	return exitOK
}

func (c *cli) usageMaintain(ctx context.Context, args []string) int {
	fs, sf := c.flagSet("usage maintain")
	retention := spanFlag(fs, "usage-retention", defaultUsageRetention, "remove the events older than this, such as 90d (0 keeps every event)")
	ahead := spanFlag(fs, "ahead", defaultUsageAhead, "create the daily partitions this far ahead, such as 7d (PostgreSQL; SQLite has none)")
	if code, ok := c.parse(fs, args); !ok {
		return code
	}
	days := int((*ahead + duration.Day - 1) / duration.Day)
	reg, err := registry.OpenUsageKeeper(ctx, c.config(sf))
	if err != nil {
		return c.fail(exitTrouble, "%v", err)
	}
	defer reg.Close()
	p, err := reg.MaintainUsage(ctx, *retention, days)
	if err != nil {
		return c.fail(exitTrouble, "usage maintain: %v", err)
	}
	if reg.Store().Engine() == "postgres" {
		fmt.Fprintf(c.stdout, "usage partitions: through %s\n", reg.Now().Add(time.Duration(days)*duration.Day).Format(time.DateOnly))
	}
	switch {
	case *retention == 0:
		fmt.Fprintln(c.stdout, "usage retention: off (--usage-retention 0)")
	case p.Count == 0:
		fmt.Fprintf(c.stdout, "usage retention %s: nothing older to remove\n", duration.Format(*retention))
	default:
		fmt.Fprintf(c.stdout, "usage retention %s: removed %d events from %s to %s\n", duration.Format(*retention), p.Count,
			p.From.Format(time.RFC3339), p.To.Format(time.RFC3339))
	}
	return exitOK
}

// spanValue is a duration flag that takes days and weeks (90d, 2w) as
// well as Go's units, through internal/duration.
type spanValue struct{ d *time.Duration }

// spanFlag defines a duration flag that takes days.
func spanFlag(fs *flag.FlagSet, name string, def time.Duration, usage string) *time.Duration {
	d := def
	fs.Var(spanValue{&d}, name, usage)
	return &d
}

func (v spanValue) String() string {
	if v.d == nil {
		return ""
	}
	return duration.Format(*v.d)
}

func (v spanValue) Set(s string) error {
	d, err := duration.Parse(strings.TrimSpace(s))
	if err != nil {
		return errors.New("must be a duration such as 24h, 7d or 90d")
	}
	*v.d = d
	return nil
}

// clean makes any text safe to print on a terminal: control characters
// (escape sequences start with one), bidirectional overrides and bytes
// that are not UTF-8 are shown as Go escapes, so a user agent or a path an
// attacker chose cannot move the cursor, recolour or retitle the
// terminal, or reorder what the reader sees.
func clean(s string) string {
	ok := true
	for _, r := range s {
		if unsafeRune(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r) && r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// unsafeRune tells whether a rune could act on a terminal or reorder text.
// terminalSafeJSON escapes in JSON text the runes encoding/json leaves as
// they are but a terminal acts on: C1 controls (U+009B starts an escape
// sequence on its own) and bidirectional overrides, which arrive in user
// agents and paths from anyone. Below U+0020 encoding/json escapes
// already; such runes only occur inside strings, where \uXXXX means the
// same.
func terminalSafeJSON(b []byte) []byte {
	if !bytes.ContainsFunc(b, func(r rune) bool { return r >= 0x7f && unsafeRune(r) }) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r >= 0x7f && unsafeRune(r) && !(r == utf8.RuneError && n == 1) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}

func unsafeRune(r rune) bool {
	switch {
	case r == utf8.RuneError, unicode.IsControl(r):
		return true
	case r >= 0x200e && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x061c:
		return true // bidirectional marks, embeddings, overrides and isolates
	}
	return false
}

// tableCell is a value as the table shows it: clean, and with no tab,
// which would shift the columns (clean shows tabs as \x09 already).
func tableCell(s string) string {
	if s == "" {
		return "-"
	}
	return clean(s)
}

// csvCell is a value as a CSV file holds it: clean, and never read as a
// formula by a spreadsheet (a cell starting with = + - @ or a tab or a
// carriage return is prefixed with a quote, as OWASP advises).
func csvCell(s string) string {
	s = clean(s)
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
